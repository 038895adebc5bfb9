-- Shared by the reports: names by id for labelling rows, and the report transactions' planner settings.

-- name: resource_names
SELECT id, name FROM resource

-- name: service_names
SELECT id, name FROM service

-- name: branch_names
SELECT id, name FROM branch

-- name: planner
-- Report transactions aggregate about a million rows into thousands of groups: memory for the hash
-- tables, and parallel workers costed as cheap so the planner splits the scan (its default
-- parallel_tuple_cost assumes every group is a tuple worth shipping). Run as three statements.
SET LOCAL work_mem = '64MB';
SET LOCAL parallel_setup_cost = 100;
SET LOCAL parallel_tuple_cost = 0.01

-- name: sorted_aggregation
-- The utilization query's sorted aggregation: the bookings arrive in booking_report's order (a group
-- per resource-day, no hash table of 300,000 groups), the windows are sorted once to match.
SET LOCAL enable_hashagg = off
