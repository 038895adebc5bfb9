"""Likely duplicates of a new patient (same phone, or same name and birth date), against the test database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from reception_app.domain.errors import ValidationError
from reception_app.services import patients
from reception_app.services.patients import DUPLICATE_LIMIT, likely_duplicates


@pytest.fixture
def people(db) -> dict[str, int]:
    add = patients.add_patient
    return {
        "maria": add(db, name="Maria Silva", birth_date="1980-05-17", phone="+5527999990001").id,
        "joao": add(db, name="João Pereira", birth_date="1975-11-02", email="joao@example.com").id,
        "ana": add(db, name="Ana Clara Souza", birth_date="2001-01-30").id,
    }


def ids(found) -> list[int]:
    return [p.id for p in found]


def test_same_phone_in_another_format_matches(db, people):
    found = likely_duplicates(db, name="Someone Else", birth_date="1990-01-01", phone="+55 27 99999-0001")
    assert ids(found) == [people["maria"]]
    assert found[0].name == "Maria Silva" and found[0].phone == "+5527999990001"


def test_same_name_with_other_case_and_spacing_and_same_birth_date_matches(db, people):
    assert ids(likely_duplicates(db, name="  maria   silva ", birth_date="1980-05-17")) == [people["maria"]]


def test_accents_do_not_matter(db, people):
    assert ids(likely_duplicates(db, name="Joao Pereira", birth_date=date(1975, 11, 2))) == [people["joao"]]
    assert ids(likely_duplicates(db, name="ANA CLÁRA SOUZA", birth_date="2001-01-30")) == [people["ana"]]


def test_same_name_but_another_birth_date_does_not_match(db, people):
    assert likely_duplicates(db, name="Maria Silva", birth_date="1980-05-18") == []
    assert likely_duplicates(db, name="Maria Silva", birth_date="1980-05-18", phone="+5527999990002") == []


def test_same_birth_date_but_another_name_does_not_match(db, people):
    assert likely_duplicates(db, name="Maria Souza", birth_date="1980-05-17") == []


def test_best_match_first_and_at_most_the_limit(db, people):
    add = patients.add_patient
    # Same phone only (a relative), same name+birth only, and both.
    relative = add(db, name="Pedro Silva", birth_date="2010-03-04", phone="+5527999990777").id
    twin = add(db, name="Maria  SILVA", birth_date="1980-05-17").id
    both = add(db, name="Maria Silva", birth_date="1980-05-17", phone="+5527999990777").id
    found = likely_duplicates(db, name="Maria Silva", birth_date="1980-05-17", phone="+5527999990777")
    assert ids(found)[0] == both
    assert set(ids(found)) == {both, twin, people["maria"], relative}
    assert ids(found)[-1] == relative  # phone only comes last
    for i in range(DUPLICATE_LIMIT + 2):
        add(db, name="Maria Silva", birth_date="1980-05-17", email=f"m{i}@example.com")
    assert len(likely_duplicates(db, name="Maria Silva", birth_date="1980-05-17")) == DUPLICATE_LIMIT


def test_invalid_input_names_the_field_and_writes_nothing(db, people):
    before = db.read(lambda c: c.execute(text("SELECT count(*) FROM patient")).scalar_one())
    with pytest.raises(ValidationError) as exc:
        likely_duplicates(db, name="Maria Silva", birth_date="1980-05-17", phone="12-not-a-phone")
    assert exc.value.field == "phone"
    with pytest.raises(ValidationError) as exc:
        likely_duplicates(db, name="Maria Silva", birth_date="17/05/1980")
    assert exc.value.field == "birth_date"
    with pytest.raises(ValidationError) as exc:
        likely_duplicates(db, name="   ", birth_date="1980-05-17")
    assert exc.value.field == "name"
    assert db.read(lambda c: c.execute(text("SELECT count(*) FROM patient")).scalar_one()) == before
