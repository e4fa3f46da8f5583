"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

JSON Schema says what each field may hold, not how fields relate to each other or to what
exists on the server. The rules it cannot say are written in the OpenAPI document's words
(descriptions) and the server answers 422 naming the field when one is broken. So that
`positive_data_acceptance` ("a request the document allows is accepted") stays a check of the
document and not of random data, the request schemathesis means as valid (positive mode) is
brought within these rules before it is sent; nothing is filtered out or relaxed:

- the `e164` format: a phone number libphonenumber holds valid (the pattern alone allows
  `+101`), drawn from real-looking numbers of a few countries;
- a reference (`company_id`, `person_id`, `deal_id`) names a record of the org: the first
  record of that kind this run saw the server answer with (its anchor), else none. The
  anchors are never deleted (a DELETE of one, in any mode, is sent for a random id instead,
  and reads as the documented 404), so a reference cannot name a record deleted meanwhile, by
  an earlier step or by the other worker, and be refused as "does not exist";
- exactly one recipient (`to` or `person_id`) for SMS and calls, at most one agent
  (`member_id` or `agent_phone`), a body or a media URL for an SMS;
- a deal's `amount_minor` and `currency` go together;
- a lead has an email or a phone;
- a person has a name, an email or a phone, and their additional emails and phones do not
  repeat each other or the primary one, nor number more than 19 (20 with the primary one);
  a PATCH that lists them names its primary too, and one that names a primary lists them
  (none), since the stored ones are unknown here;
- a partner's daily cap does not exceed its monthly cap (a PATCH that gives one gives both,
  since the stored one is unknown here), and each opening period opens before it closes;
- a lead summary's `to` is after its `from`;
- a list's `cursor` continues the order it was made in: one made up from the documented form
  can only be a cursor of the default order (an id: any 22 characters of the form are one),
  not a sorted list's (which holds a last key), so a sorted page or a cursor of the sorted
  form is asked for from the start;
- a number's ringing lists each member once;
- a webhook endpoint's URL resolves (the run has no DNS): its host is made 127.0.0.1, which
  the script's server allows (WORKOS_WEBHOOK_ALLOWED_SUBNETS).

Requests meant to be invalid (negative mode) are left as they are.

One fix is not about the API: CPython before 3.11.8 (and 3.12.0–3.12.1) keeps the AST
constructor's recursion depth in state the threads share, so two `ast.parse` calls at once
may fail with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905).
Hypothesis parses source files to describe lambdas, and the script runs two workers: the
run then reported that error for whichever operation was being generated. On those versions
`ast.parse` is made to take a lock.
"""

from __future__ import annotations

import ast
import sys
import threading
import uuid
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

if sys.version_info < (3, 11, 8) or (3, 12) <= sys.version_info < (3, 12, 2):
    _ast_lock = threading.Lock()
    _ast_parse = ast.parse

    def _locked_parse(*args, **kwargs):
        with _ast_lock:
            return _ast_parse(*args, **kwargs)

    ast.parse = _locked_parse

# Valid numbers (libphonenumber's example numbers and their neighbours) of a few countries.
VALID_NUMBERS = [
    "+14155552671",
    "+14155550100",
    "+12025550123",
    "+16135550199",
    "+442079460958",
    "+447400123456",
    "+33142685300",
    "+4930123456",
    "+61212345678",
    "+81312345678",
    "+5511961234567",
    "+919876543210",
]
schemathesis.openapi.format("e164", st.sampled_from(VALID_NUMBERS))

API = "/api/v1"
# Which collection a reference field's ids come from.
REFERENCES = {"company_id": "companies", "person_id": "people", "deal_id": "deals"}

_anchor_lock = threading.Lock()
# The record of each kind that references name; set once, never deleted.
_anchors: dict[str, str | None] = {kind: None for kind in REFERENCES.values()}


def _collection(path: str) -> str | None:
    """`people` for `/api/v1/people` and `/api/v1/people/{id}`."""
    parts = path.removeprefix(API).strip("/").split("/")
    if parts and parts[0] in _anchors and (len(parts) == 1 or parts[1] == "{id}"):
        return parts[0]
    return None


@schemathesis.hook
def after_call(context, case, response) -> None:
    """Makes the first company, person and deal the server answers with their kind's anchor."""
    kind = _collection(case.operation.path)
    if kind is None or response.status_code >= 300 or case.method.upper() == "DELETE":
        return
    try:
        payload = response.json()
    except ValueError:
        return
    records = payload.get("data", []) if isinstance(payload, dict) and "data" in payload else [payload]
    ids = [r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
    with _anchor_lock:
        if _anchors[kind] is None and ids:
            _anchors[kind] = ids[0]


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


def _anchor(kind: str) -> str | None:
    with _anchor_lock:
        return _anchors[kind]


def _fix_references(body: dict) -> None:
    for field, kind in REFERENCES.items():
        if body.get(field) is not None:
            body[field] = _anchor(kind)


def _spare_anchor(case) -> None:
    """A DELETE of an anchor is sent for a random id instead (a 404)."""
    kind = _collection(case.operation.path)
    params = case.path_parameters
    if kind is None or not isinstance(params, dict) or params.get("id") is None:
        return
    if str(params["id"]) == _anchor(kind):
        params["id"] = str(uuid.uuid4())


def _given(body: dict, field: str) -> bool:
    return body.get(field) is not None


def _fix_recipient(body: dict, path: str) -> None:
    if _given(body, "to") and _given(body, "person_id"):
        body["person_id"] = None
    if not _given(body, "to") and not _given(body, "person_id"):
        body["to"] = VALID_NUMBERS[0]
    if path.endswith("/calls") and _given(body, "member_id") and _given(body, "agent_phone"):
        body["member_id"] = None
    if path.endswith("/sms/send") and not body.get("body") and not body.get("media_urls"):
        body["body"] = "hello"


def _fix_deal(body: dict) -> None:
    amount, currency = _given(body, "amount_minor"), _given(body, "currency")
    if amount and not currency:
        body["currency"] = "USD"
    elif currency and not amount:
        body["amount_minor"] = 0


def _fix_person(body: dict, patch: bool) -> None:
    named = any(
        isinstance(body.get(f), str) and body[f].strip()
        for f in ("first_name", "last_name", "email", "phone")
    )
    if not named:
        body["first_name"] = "Ada"
    for primary, extra in (("email", "additional_emails"), ("phone", "additional_phones")):
        values = body.get(extra)
        if patch and _given(body, primary) and not isinstance(values, list):
            # A new primary with the stored list kept: that list is unknown here and may hold
            # it. Give the list too (empty), so the body alone decides what repeats.
            body[extra] = values = []
        if not isinstance(values, list):
            continue
        if patch and values and primary not in body:
            # The stored primary is unknown here and may be in the list: name the primary too,
            # so the body alone decides what repeats.
            body[primary] = values[0]
        taken = {str(body[primary]).lower()} if _given(body, primary) else set()
        unique = []
        for v in values:
            key = str(v).lower()
            if key not in taken:
                taken.add(key)
                unique.append(v)
        # At most 20 with the primary one: 19 always fit.
        body[extra] = unique[:19]


def _fix_partner(body: dict, patch: bool) -> None:
    daily, monthly = body.get("daily_cap"), body.get("monthly_cap")
    number = (int, float)
    if patch:
        # The stored other cap is unknown here: give both, so the body alone decides.
        if isinstance(daily, number) and "monthly_cap" not in body:
            body["monthly_cap"] = monthly = daily
        elif isinstance(monthly, number) and "daily_cap" not in body:
            body["daily_cap"] = daily = monthly
    if isinstance(daily, number) and isinstance(monthly, number) and daily > monthly:
        body["daily_cap"], body["monthly_cap"] = monthly, daily
    schedule = body.get("schedule")
    if isinstance(schedule, dict):
        for day, periods in schedule.items():
            if not isinstance(periods, list):
                continue
            fixed = []
            for period in periods:
                if isinstance(period, list) and len(period) == 2:
                    opens, closes = sorted(period)
                    if opens != closes and opens != "24:00":
                        fixed.append([opens, closes])
                        continue
                fixed.append(["09:00", "17:00"])
            schedule[day] = fixed


def _without_nul(value):
    # Postgres cannot store NUL in JSON text; the server refuses it anywhere in a lead's
    # `answers` (keys included), which JSON Schema cannot state for free-form nested values.
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _fix_search(query: dict) -> None:
    # The server needs a letter or digit in q (its description says so; JSON Schema's regex
    # dialect has no Unicode classes to state it): a q without an ASCII one gets one, in
    # place of its first character so its length stays within the document's bounds.
    q = query.get("q")
    if isinstance(q, str) and not any(c.isascii() and c.isalnum() for c in q):
        query["q"] = "a" + q[1:]


def _fix_url(body: dict) -> None:
    url = body.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        body["url"] = urlunsplit(parts._replace(netloc="127.0.0.1:9"))


def _fix_cursor(query: dict) -> None:
    cursor, sort = query.get("cursor"), query.get("sort", "created_at")
    if isinstance(cursor, str) and (sort != "created_at" or len(cursor) != 22):
        del query["cursor"]


def _fix_summary(query: dict) -> None:
    def parse(v):
        try:
            return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            return None

    start, end = parse(query.get("from")), parse(query.get("to"))
    if start is not None and end is not None and start >= end:
        del query["to"]


@schemathesis.hook
def map_case(context, case):
    _fix_case(case)
    return case


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    """The same rules again just before sending: in the stateful phase a link fills fields
    (an `email` from a person, a `member_id` from a member) after `map_case` ran, which can
    break a rule `map_case` had kept (a primary email repeated in `additional_emails`, an
    agent given twice). Schemathesis re-reads what this hook changes to tell whether the case
    is still one the document allows."""
    _fix_case(case)


def _fix_case(case) -> None:
    """Brings a request meant as valid within the rules above; idempotent."""
    path, method = case.operation.path.removeprefix(API), case.method.upper()
    if method == "DELETE":
        _spare_anchor(case)
    if not _is_positive(case):
        return
    body = case.body if isinstance(case.body, dict) else None
    if path == "/leads/summary" and isinstance(case.query, dict):
        _fix_summary(case.query)
    if path == "/search" and isinstance(case.query, dict):
        _fix_search(case.query)
    if method == "GET" and isinstance(case.query, dict):
        _fix_cursor(case.query)
    if body is None:
        return
    if method in ("POST", "PATCH", "PUT"):
        _fix_references(body)
    if path in ("/sms/send", "/calls"):
        _fix_recipient(body, path)
    elif path.startswith("/deals"):
        _fix_deal(body)
    elif path == "/leads" and method == "POST":
        if not _given(body, "email") and not _given(body, "phone"):
            body["email"] = "lead@example.com"
        if "answers" in body:
            body["answers"] = _without_nul(body["answers"])
    elif path.startswith("/people"):
        _fix_person(body, method == "PATCH")
    elif path.startswith("/partners"):
        _fix_partner(body, method == "PATCH")
        if isinstance(body.get("delivery"), dict):
            # Partner URLs are checked at registration as webhook URLs are.
            _fix_url(body["delivery"])
    elif path.startswith("/webhooks") and not path.startswith("/webhooks/twilio"):
        _fix_url(body)
    elif path.endswith("/ringing") and isinstance(body.get("members"), list):
        body["members"] = list(dict.fromkeys(body["members"]))
