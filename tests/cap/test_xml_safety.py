"""Untrusted XML: size-bounded, no DTD, nothing fetched, schema errors named by element and line."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES, CapError, parse_cap_xml, parse_xml

EXAMPLES = Path(__file__).parent / "examples"
THUNDERSTORM = (EXAMPLES / "ThunderstormWarning.xml").read_bytes()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
"""


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with an entity-defining DTD, and remembers the path asked for."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = b'<!ENTITY leak "FETCHED-FROM-THE-NETWORK">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent."""


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server serving DTDs: its base URL and the paths requested of it."""
    requests: list[str] = []
    handler = type("Handler", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_spec_example_parses() -> None:
    """The thunderstorm warning of the specification is accepted as it is."""
    root = parse_cap_xml(THUNDERSTORM)
    assert root.findtext("{urn:oasis:names:tc:emergency:cap:1.2}identifier") == "KSTO1055887203"


def test_billion_laughs_is_refused_quickly() -> None:
    """Nested entities are not expanded: libxml2 stops at the amplification, or the DOCTYPE is."""
    started = time.perf_counter()
    with pytest.raises(CapError, match=r"entity amplification|DOCTYPE") as refused:
        parse_cap_xml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1.0
    assert "lollol" not in str(refused.value)


def test_external_entity_does_not_read_a_file(tmp_path: Path) -> None:
    """An entity naming a local file is not read: the secret appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    for system in (secret.as_uri(), "file:///etc/passwd"):
        document = (
            f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "{system}">]>'
            '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier>'
            "</alert>"
        ).encode()
        with pytest.raises(CapError, match="DOCTYPE") as refused:
            parse_cap_xml(document)
        assert "TOP-SECRET-VALUE" not in str(refused.value)
        assert "root:" not in str(refused.value)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE alert [<!ENTITY x SYSTEM "{uri}">]>',
        '<!DOCTYPE alert SYSTEM "{uri}">',
        '<!DOCTYPE alert [<!ENTITY % p SYSTEM "{uri}"> %p;]>',
    ],
)
def test_no_local_file_is_even_opened(tmp_path: Path, doctype: str) -> None:
    """An entity or DTD naming a file: the file is never opened, let alone read.

    The file is a named pipe with a writer waiting for a reader. A parser that opened it
    could read only once the writer has woken, and the writer notes that first; so after
    the parse the note says whether the parser opened the file.
    """
    pipe = tmp_path / "secret.dtd"
    os.mkfifo(pipe)
    opened: list[bool] = []

    def writer() -> None:
        descriptor = os.open(pipe, os.O_WRONLY)
        opened.append(True)
        os.write(descriptor, b'<!ENTITY x "TOP-SECRET">')
        os.close(descriptor)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    document = doctype.format(uri=pipe.as_uri()) + (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>'
    )
    try:
        with pytest.raises(CapError) as refused:
            parse_cap_xml(document.encode())
        assert opened == []
        assert "TOP-SECRET" not in str(refused.value)
    finally:
        release = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # wakes the writer if it waits
        thread.join(timeout=5)
        os.close(release)


def test_nothing_is_fetched_for_an_external_dtd_or_entity(
    dtd_server: tuple[str, list[str]],
) -> None:
    """External DTDs, entities and parameter entities by HTTP: refused, and no request made.

    The libxml2 of lxml 6 has no HTTP client at all; this guards against a build that has.
    """
    base, requests = dtd_server
    documents = [
        f'<!DOCTYPE alert SYSTEM "{base}/external.dtd"><alert>&leak;</alert>',
        f'<!DOCTYPE alert PUBLIC "-//X//DTD X//EN" "{base}/public.dtd"><alert/>',
        f'<!DOCTYPE alert [<!ENTITY x SYSTEM "{base}/entity.txt">]><alert>&x;</alert>',
        f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "{base}/param.dtd"> %p;]><alert>&leak;</alert>',
    ]
    for document in documents:
        with pytest.raises(CapError) as refused:
            parse_xml(document.encode())
        assert "FETCHED-FROM-THE-NETWORK" not in str(refused.value)
    assert requests == []


def test_any_doctype_is_refused() -> None:
    """Even a harmless DOCTYPE: a CAP document never needs one."""
    document = THUNDERSTORM.replace(b"<alert ", b"<!DOCTYPE alert>\n<alert ", 1)
    with pytest.raises(CapError, match="DOCTYPE"):
        parse_cap_xml(document)


def test_a_document_over_the_bound_is_refused_before_parsing() -> None:
    """50 MB of broken XML: the answer is its size, not its syntax, and it comes at once."""
    document = b"<<<not xml at all" + b"x" * (50 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(
        CapError, match=rf"{len(document)} bytes, more than the {MAX_DOCUMENT_BYTES}"
    ):
        parse_cap_xml(document)
    assert time.perf_counter() - started < 0.5


def test_a_document_of_exactly_the_bound_is_read() -> None:
    """The bound is inclusive: a valid document padded to MAX_DOCUMENT_BYTES is accepted."""
    document = THUNDERSTORM + b" " * (MAX_DOCUMENT_BYTES - len(THUNDERSTORM))
    assert len(document) == MAX_DOCUMENT_BYTES
    parse_cap_xml(document)
    with pytest.raises(CapError, match="more than"):
        parse_cap_xml(document + b" ")


def test_malformed_xml_names_the_line() -> None:
    """A syntax error says where."""
    with pytest.raises(CapError, match=r"not well-formed XML: line 3, column \d+: "):
        parse_xml(b"<alert>\n<identifier>x</identifier>\n<sender></alert>")


def test_an_invalid_value_names_the_element_and_line() -> None:
    """A severity outside CAP's list: the error names `severity` and its line."""
    document = THUNDERSTORM.replace(b"<severity>Severe</severity>", b"<severity>Dire</severity>")
    line = document[: document.index(b"<severity>")].count(b"\n") + 1
    with pytest.raises(CapError) as refused:
        parse_cap_xml(document)
    message = str(refused.value)
    assert message.startswith("not valid CAP 1.2: ")
    assert f"line {line}: Element 'severity'" in message
    assert "'Dire'" in message
    assert "urn:oasis" not in message


def test_a_missing_element_is_named() -> None:
    """Without `event`, the error says that `event` was expected."""
    document = THUNDERSTORM.replace(b"<event>SEVERE THUNDERSTORM</event>", b"")
    with pytest.raises(CapError, match=r"line 14: .* Expected is one of \( category, event \)"):
        parse_cap_xml(document)


def test_a_cap_1_1_document_is_not_taken_for_1_2() -> None:
    """Another namespace: the error names the root found."""
    document = THUNDERSTORM.replace(b"emergency:cap:1.2", b"emergency:cap:1.1")
    with pytest.raises(CapError, match=r"not a CAP 1\.2 alert: .*cap:1\.1\}alert"):
        parse_cap_xml(document)
