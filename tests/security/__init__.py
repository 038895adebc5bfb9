"""The attack suite (issue 14): every role against every table, function and rule, from tables in the tests."""
