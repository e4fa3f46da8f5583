#!/usr/bin/env python3
"""Checks voice TwiML against Twilio's official helper library.

Used by the reference server's test suite (tests/it/twilio/calls.rs). Reads a TwiML document
on stdin, parses it, and builds the same document with `twilio.twiml.voice_response`: each
verb through the library's method for it (`VoiceResponse.dial`, `Dial.number`, `say`,
`record`), each attribute through the library's keyword for it. A verb or noun the library
does not have where we put it fails; so does any difference between the two documents
(compared in canonical XML).

Output (stdout): "ok", or what differs. Exit status: 0 when they agree, 1 when they differ or
the TwiML does not parse, 3 when the `twilio` package cannot be imported.
"""

import re
import sys
import xml.etree.ElementTree as ET

try:
    from twilio.twiml.voice_response import VoiceResponse
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"cannot import twilio.twiml.voice_response: {e}", file=sys.stderr)
    sys.exit(3)


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def rebuild(ours, theirs):
    """Adds each child of `ours` to the library element `theirs` through its own method."""
    for child in ours:
        method = getattr(theirs, snake(child.tag), None)
        if method is None:
            raise ValueError(f"<{child.tag}> is not allowed in <{ours.tag}>")
        kwargs = {snake(k): v for k, v in child.attrib.items()}
        if len(child):
            built = method(**kwargs)
            rebuild(child, built)
        else:
            built = method(child.text or "", **kwargs) if child.text else method(**kwargs)


def main():
    ours = sys.stdin.read()
    try:
        root = ET.fromstring(ours.encode("utf-8"))
    except ET.ParseError as e:
        print(f"not XML: {e}")
        return 1
    if root.tag != "Response":
        print(f"the root is <{root.tag}>, not <Response>")
        return 1
    response = VoiceResponse()
    try:
        rebuild(root, response)
    except (ValueError, TypeError) as e:
        print(str(e))
        return 1
    want = ET.canonicalize(xml_data=response.to_xml())
    got = ET.canonicalize(xml_data=ours)
    if want != got:
        print(f"differs:\n ours:   {got}\n twilio: {want}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
