"""Generates a Python client from the server's OpenAPI document with openapi-python-client and
drives the CRM resources through it: create -> get -> list -> patch -> delete -> get (404) of
companies, people, deals, tasks and interactions, every request and answer going through the
generated models (so a field, enum or status the document gets wrong fails here).

    python generated_client_crud.py OPENAPI_JSON OUT_DIR BASE_URL API_KEY

Exit status: 0 when every step passed (the last line of stdout is `ok N resources`), 3 when
openapi-python-client is not installed, 1 on any failure (the reason on stderr).
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

PACKAGE = "workos_generated_client"

# (tag, singular, plural, New model, Patch model, create body, patch body, (patched field, value))
# The create bodies refer to the records made before them by name: `{company}` is replaced by
# the company's id, and so on.
RESOURCES = [
    ("companies", "company", "companies", "NewCompany", "CompanyPatch",
     {"name": "Acme", "domain": "acme.example"},
     {"name": "Acme Inc"}, ("name", "Acme Inc")),
    ("people", "person", "people", "NewPerson", "PersonPatch",
     {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
      "company_id": "{company}"},
     {"title": "CTO"}, ("title", "CTO")),
    ("deals", "deal", "deals", "NewDealBody", "DealPatchBody",
     {"name": "Engines", "amount_minor": 250000, "currency": "EUR",
      "company_id": "{company}", "person_id": "{person}"},
     {"stage": "qualified"}, ("stage", "qualified")),
    ("tasks", "task", "tasks", "NewTask", "TaskPatch",
     {"title": "Call Ada", "priority": "high", "person_id": "{person}",
      "deal_id": "{deal}"},
     {"status": "done"}, ("status", "done")),
    ("interactions", "interaction", "interactions", "NewInteraction", "InteractionPatch",
     {"kind": "meeting", "occurred_at": "2026-01-02T03:04:05Z", "summary": "First meeting",
      "person_id": "{person}", "company_id": "{company}", "deal_id": "{deal}"},
     {"summary": "First meeting, notes added"}, ("summary", "First meeting, notes added")),
]


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def generate(spec: Path, out: Path) -> None:
    if importlib.util.find_spec("openapi_python_client") is None:
        print("openapi-python-client is not installed", file=sys.stderr)
        sys.exit(3)
    config = out / "generator.yaml"
    # No formatter run after generating (ruff is not needed to use the client).
    config.write_text("post_hooks: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--meta", "none", "--output-path", str(out / PACKAGE), "--config", str(config),
         "--overwrite", "--fail-on-warning"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        fail(f"openapi-python-client failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def value_of(v):
    """An enum member's value, a UUID's text, a datetime in RFC 3339 (`Z`), anything else as
    is: what was sent, as the generated models read it back."""
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    v = getattr(v, "value", v)
    return str(v) if type(v).__name__ == "UUID" else v


def main() -> None:
    spec, out, base_url, api_key = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    generate(spec, out)
    sys.path.insert(0, str(out))
    client_mod = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    client = client_mod.AuthenticatedClient(base_url=base_url, token=api_key,
                                            raise_on_unexpected_status=True)
    problem = models.Problem

    def op(tag: str, name: str):
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")

    def expect(response, status: int, what: str):
        if response.status_code != status:
            fail(f"{what}: HTTP {response.status_code}, expected {status}: {response.content!r}")
        if status < 300 and isinstance(response.parsed, problem):
            fail(f"{what}: parsed as a Problem")
        return response.parsed

    ids: dict[str, str] = {}
    for tag, one, many, new_model, patch_model, create, patch, (field, want) in RESOURCES:
        body = {k: (ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v)
                for k, v in create.items()}
        created = expect(
            op(tag, f"create_{one}").sync_detailed(
                client=client, body=getattr(models, new_model).from_dict(body)),
            201, f"create {one}")
        rid = str(created.id)
        ids[one] = rid
        for k, v in body.items():
            got = value_of(getattr(created, k))
            if got != v:
                fail(f"create {one}: {k} is {got!r}, sent {v!r}")

        fetched = expect(op(tag, f"get_{one}").sync_detailed(rid, client=client), 200, f"get {one}")
        if fetched.to_dict() != created.to_dict():
            fail(f"get {one}: {fetched.to_dict()} differs from the created {created.to_dict()}")

        page = expect(op(tag, f"list_{many}").sync_detailed(client=client, limit=200), 200,
                      f"list {many}")
        if rid not in {str(r.id) for r in page.data}:
            fail(f"list {many}: {rid} missing")
        if page.next_cursor not in (None, types.UNSET):
            fail(f"list {many}: a next page with one record")

        patched = expect(
            op(tag, f"update_{one}").sync_detailed(
                rid, client=client, body=getattr(models, patch_model).from_dict(patch)),
            200, f"patch {one}")
        if value_of(getattr(patched, field)) != want:
            fail(f"patch {one}: {field} is {getattr(patched, field)!r}, expected {want!r}")
        if not isinstance(patched.updated_at, datetime.datetime):
            fail(f"patch {one}: updated_at is not read as a datetime")

    # Deleted in reverse, each then a 404 problem through the generated parser.
    for tag, one, *_ in reversed(RESOURCES):
        rid = ids[one]
        expect(op(tag, f"delete_{one}").sync_detailed(rid, client=client), 204, f"delete {one}")
        gone = op(tag, f"get_{one}").sync_detailed(rid, client=client)
        if gone.status_code != 404 or not isinstance(gone.parsed, problem):
            fail(f"get {one} after delete: HTTP {gone.status_code}, {gone.parsed!r}")
        if gone.parsed.status != 404:
            fail(f"get {one} after delete: problem status {gone.parsed.status}")

    print(f"ok {len(RESOURCES)} resources")


if __name__ == "__main__":
    main()
