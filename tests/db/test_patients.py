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


# -- search ---------------------------------------------------------------------------------------
from reception_app.services.patients import KEEP, find_patients, patient_record, update_patient  # noqa: E402


@pytest.fixture
def crowd(db, people) -> dict[str, int]:
    add = patients.add_patient
    return people | {
        "marta": add(db, name="Marta Silveira", birth_date="1980-05-17", phone="+5521988887777").id,
        "mario": add(db, name="Mário Sílvio Andrade", birth_date="1969-12-31").id,
        "helena": add(db, name="Helena Conceição", birth_date="1990-09-09", phone="+5527999991234").id,
    }


@pytest.mark.parametrize("query, first", [
    ("maria silva", "maria"),
    ("MARIA", "maria"),
    ("joao", "joao"),              # accents
    ("João", "joao"),
    ("pereira", "joao"),           # any word of the name
    ("ana souza", "ana"),          # words need not be next to each other
    ("mraia", "maria"),            # two neighbouring letters swapped
    ("Maira Slva", "maria"),       # one typo in each word
    ("perera", "joao"),            # a letter missing
    ("concicao", "helena"),        # accents and a letter missing
    ("helena concei", "helena"),   # still typing
])
def test_name_search_forgives_case_accents_and_typos(db, crowd, query, first):
    found = find_patients(db, query)
    assert found and found[0].id == crowd[first], [p.name for p in found]


def test_exact_words_rank_before_typos_and_unrelated_names_are_left_out(db, crowd):
    names = [p.name for p in find_patients(db, "maria silva")]
    assert names[0] == "Maria Silva"
    assert "Helena Conceição" not in names and "João Pereira" not in names
    # "mario" is a whole word of Mário Sílvio Andrade, and one typo away from Maria.
    names = [p.name for p in find_patients(db, "mario")]
    assert names[0] == "Mário Sílvio Andrade" and "Maria Silva" in names
    assert find_patients(db, "zzzzzz") == []


def test_a_single_letter_finds_names_starting_with_it(db, crowd):
    assert {p.name for p in find_patients(db, "h")} == {"Helena Conceição"}
    assert {p.name for p in find_patients(db, "s")} >= {"Maria Silva", "Marta Silveira", "Ana Clara Souza"}


@pytest.mark.parametrize("query", ["+5527999990001", "+55 27 99999-0001", "(27) 99999-0001", "027 99999 0001",
                                   "0055 27 99999 0001", "99999-0001", "0001"])
def test_phone_search_in_any_format_or_part(db, crowd, query):
    assert [p.id for p in find_patients(db, query)] == [crowd["maria"]]


def test_a_partial_phone_lists_every_match_with_the_exact_number_first(db, crowd):
    found = find_patients(db, "9999")
    assert {p.id for p in found} == {crowd["maria"], crowd["helena"]}


@pytest.mark.parametrize("query", ["17/05/1980", "17-05-1980", "17.05.1980", "1980-05-17", "1980/5/17"])
def test_birth_date_search_day_first_or_iso(db, crowd, query):
    assert [p.name for p in find_patients(db, query)] == ["Maria Silva", "Marta Silveira"]


def test_an_impossible_date_is_not_a_birth_date(db, crowd):
    assert find_patients(db, "31/02/1980") == []  # no phone has these digits either


def test_an_empty_query_is_refused(db):
    with pytest.raises(ValidationError) as info:
        find_patients(db, "   ")
    assert info.value.field == "query"


# -- update ---------------------------------------------------------------------------------------
def test_update_changes_only_what_is_given(db, people):
    changed = update_patient(db, people["maria"], phone="+55 27 98888-0002", email="maria@example.com",
                             channels=["sms", "email"])
    assert (changed.phone, changed.email, changed.channels) == ("+5527988880002", "maria@example.com",
                                                                ("sms", "email"))
    assert (changed.name, changed.birth_date) == ("Maria Silva", date(1980, 5, 17))
    assert patients.get_patient(db, people["maria"]) == changed
    renamed = update_patient(db, people["maria"], name="  Maria  da Silva ")
    assert renamed.name == "Maria da Silva" and renamed.phone == "+5527988880002"
    # Every change to a patient leaves an audit row (migration 0009): the three edits (and the insert).
    actions = db.read(lambda c: c.execute(text(
        "SELECT action, new_row->>'display_name' FROM audit_log WHERE table_name = 'patient' AND row_id = :p "
        "ORDER BY id"), {"p": people["maria"]}).all())
    assert [a for a, _ in actions] == ["INSERT", "UPDATE", "UPDATE"]
    assert actions[-1][1] == "Maria da Silva"


@pytest.mark.parametrize("kwargs, field", [
    ({"phone": "12-not-a-phone"}, "phone"),
    ({"email": "nope@"}, "email"),
    ({"birth_date": "2999-01-01"}, "birth_date"),
    ({"name": "  "}, "name"),
    ({"channels": ["pigeon"]}, "channels"),
    ({"phone": None}, "channels"),                    # SMS consent stays: it needs the phone
    ({"channels": ["email"]}, "channels"),            # Maria has no e-mail
])
def test_bad_updates_name_the_field_and_write_nothing(db, people, kwargs, field):
    before = patients.get_patient(db, people["maria"])
    with pytest.raises(ValidationError) as info:
        update_patient(db, people["maria"], **kwargs)
    assert info.value.field == field
    assert patients.get_patient(db, people["maria"]) == before


def test_removing_the_phone_with_its_channel_and_an_unknown_patient(db, people):
    p = update_patient(db, people["maria"], phone="", channels=[])
    assert (p.phone, p.channels) == (None, ())
    assert update_patient(db, people["ana"]) == patients.get_patient(db, people["ana"])  # nothing given
    with pytest.raises(ValidationError) as info:
        update_patient(db, 999_999, name="X")
    assert info.value.field == "patient"
    assert KEEP is not None


def test_the_record_lists_upcoming_and_past_appointments(clinic_db):
    from datetime import UTC, datetime, timedelta, timezone

    from reception_app.services import scheduling

    sp = timezone(timedelta(hours=-3))
    pid = patients.add_patient(clinic_db, name="Rosa Lima", birth_date="1955-03-03").id
    book = {"branch": "Centro", "service": "Abdominal ultrasound", "patient_id": pid,
            "now": datetime(2026, 12, 1, tzinfo=UTC)}
    # in the real past: the database marks no-shows only after the start by its own clock
    old = scheduling.book(clinic_db, start=datetime(2026, 6, 2, 8, tzinfo=sp),
                          **{**book, "now": datetime(2026, 5, 20, tzinfo=UTC)})
    scheduling.set_status(clinic_db, old.id, "no_show")
    gone = scheduling.book(clinic_db, start=datetime(2027, 1, 5, 9, tzinfo=sp), **book)
    scheduling.cancel(clinic_db, gone.id, reason="travel")
    soon = scheduling.book(clinic_db, start=datetime(2027, 1, 4, 8, tzinfo=sp), **book)
    later = scheduling.book(clinic_db, start=datetime(2027, 1, 5, 10, tzinfo=sp), **book)
    record = patient_record(clinic_db, pid, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert record.patient.name == "Rosa Lima"
    assert [a.id for a in record.upcoming] == [soon.id, later.id]
    # a cancelled appointment of a day still to come is not "past"
    assert [(a.id, a.status) for a in record.past] == [(old.id, "no_show")]
    assert [(a.id, a.status) for a in record.cancelled] == [(gone.id, "cancelled")]
    assert set(record.zones.values()) == {"America/Sao_Paulo"}


# -- a retried "Add patient" adds once ----------------------------------------------------------
def test_a_client_id_makes_adding_a_patient_safe_to_retry(db):
    import uuid

    cid = uuid.uuid4()
    first = patients.add_patient(db, name="Rosa Lima", birth_date="1970-01-02", client_id=cid)
    again = patients.add_patient(db, name="Rosa Lima", birth_date="1970-01-02", client_id=str(cid))
    assert again.id == first.id and again.already_added and not first.already_added
    assert again.to_json()["already_added"] is True and "already_added" not in first.to_json()
    count = db.read(lambda c: c.execute(text("SELECT count(*) FROM patient WHERE display_name = 'Rosa Lima'"))
                    .scalar_one())
    assert count == 1
    with pytest.raises(ValidationError) as reused:          # the same id for someone else: a mistake
        patients.add_patient(db, name="Otto Lima", birth_date="1970-01-02", client_id=cid)
    assert reused.value.field == "client_id" and f"patient {first.id}" in str(reused.value)
    with pytest.raises(ValidationError) as bad:
        patients.add_patient(db, name="Otto Lima", birth_date="1970-01-02", client_id="not-a-uuid")
    assert bad.value.field == "client_id"
