#!/usr/bin/env python3
"""Signs (or checks) a Twilio webhook with Twilio's official helper library.

Used by the reference server's test suite (tests/it/twilio.rs) as an independent
implementation of the X-Twilio-Signature algorithm.

Input: one JSON object, as the first argument or on stdin:

    {"auth_token": "...", "url": "https://host/path?query",
     "params": [["Name", "value"], ...],          # or {"Name": "value", ...}
     "signature": "..."}                          # optional

Output (stdout): the signature Twilio would send for a form post of `params` to exactly
`url` (RequestValidator.compute_signature); or, when `signature` is given, "valid" or
"invalid" (RequestValidator.validate, which also tries the URL with and without its port).

Exit status: 0 on success, 3 when the `twilio` package cannot be imported (install it with
`pip install twilio`), 2 on bad input.
"""

import json
import sys

try:
    from twilio.request_validator import RequestValidator
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"cannot import twilio.request_validator: {e}", file=sys.stderr)
    sys.exit(3)


class MultiParams(dict):
    """Form parameters with repeated names, read the way Flask's MultiDict is."""

    def getall(self, name):
        return self[name]


def to_params(raw):
    params = MultiParams()
    pairs = raw.items() if isinstance(raw, dict) else raw
    for name, value in pairs:
        params.setdefault(str(name), []).append(str(value))
    return params


def main():
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    try:
        request = json.loads(text)
        token = request["auth_token"]
        url = request["url"]
        params = to_params(request.get("params") or [])
    except (ValueError, KeyError, TypeError) as e:
        print(f"bad input: {e}", file=sys.stderr)
        return 2
    validator = RequestValidator(token)
    signature = request.get("signature")
    if signature is None:
        print(validator.compute_signature(url, params))
    else:
        print("valid" if validator.validate(url, params, signature) else "invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
