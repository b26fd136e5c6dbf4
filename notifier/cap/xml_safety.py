"""Untrusted CAP XML read safely: size-bounded, no DTD or entities, checked against the schema.

The parser is lxml's, hardened, rather than defusedxml: the document must be validated
against the OASIS XSD, which only lxml (libxml2) does among the parsers defusedxml wraps,
and defusedxml's lxml wrapper is deprecated. So lxml is told to do nothing a hostile
document could ask for: entities are not substituted (`resolve_entities=False`), no DTD
is loaded (`load_dtd=False`), nothing is fetched from the network (`no_network=True`),
libxml2's limits on depth and text size stay on (`huge_tree=False`), and any resolver
call is refused. A CAP document never needs a DTD, so one that has a DOCTYPE at all is
refused; the bombs and external entities of the attacks all live in a DOCTYPE.

Every failure is a `CapError`, an `InputError`: the document is wrong, nothing was done.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

from lxml import etree

from notifier.cap.message import CAP_NAMESPACE
from notifier.errors import InputError

if TYPE_CHECKING:
    from lxml.etree._docloader import _InputDocument

MAX_DOCUMENT_BYTES = 1024 * 1024
"""The largest CAP document read: real ones are a few kilobytes, the largest a few hundred."""

SCHEMA_RESOURCE = "CAP-v1.2.xsd"
"""The OASIS CAP 1.2 schema, shipped in this package."""

_ALERT_TAG = f"{{{CAP_NAMESPACE}}}alert"
_REPORTED_PROBLEMS = 3


class CapError(InputError):
    """A CAP document is too large, not XML, hostile, or not valid CAP 1.2; the message says why."""


class _RefuseEverything(etree.Resolver):
    """Answers any request to load an outside resource with an empty string."""

    def resolve(
        self, system_url: str | None, public_id: str | None, context: object
    ) -> _InputDocument:
        # Reached only if an option above stopped working. Not resolve_empty(): with it,
        # lxml goes on to libxml2's own loader, which reads the file after all.
        return self.resolve_string("", context)


def parse_cap_xml(data: bytes) -> etree._Element:
    """The root `alert` of a CAP 1.2 document, parsed safely and valid against the schema."""
    root = parse_xml(data)
    if root.tag != _ALERT_TAG:
        raise CapError(
            f"the document is not a CAP 1.2 alert: its root element is {etree.QName(root).text}"
        )
    validate(root)
    return root


def parse_xml(data: bytes, limit: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The root element of a well-formed document of at most `limit` bytes with no DTD."""
    if len(data) > limit:
        raise CapError(f"the document is {len(data)} bytes, more than the {limit} allowed")
    parser = _hardened_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise CapError(f"not well-formed XML: {_first_problem(parser, error)}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CapError("the document has a DOCTYPE, which a CAP document may not have")
    return root


def validate(root: etree._Element) -> None:
    """Check an element tree against the CAP 1.2 schema; CapError names element and line."""
    # A validator keeps the error log of its last run, so each call has its own.
    schema = etree.XMLSchema(_schema_document())
    if schema.validate(root):
        return
    problems = [
        f"line {entry.line}: {entry.message.replace(f'{{{CAP_NAMESPACE}}}', '')}"
        for entry in schema.error_log
    ]
    more = len(problems) - _REPORTED_PROBLEMS
    text = "; ".join(problems[:_REPORTED_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    raise CapError(f"not valid CAP 1.2: {text}")


def _first_problem(parser: etree.XMLParser, error: etree.XMLSyntaxError) -> str:
    """The first error of this parse, usually the cause of the rest, with its position."""
    for entry in parser.error_log:
        return f"line {entry.line}, column {entry.column}: {entry.message}"
    return str(error)


def _hardened_parser() -> etree.XMLParser:
    """A new parser per document: a parser and its error log serve one parse, in one thread."""
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )
    parser.resolvers.add(_RefuseEverything())
    return parser


@cache
def _schema_document() -> etree._ElementTree:
    """The shipped schema, parsed once (a read-only tree)."""
    data = files("notifier.cap").joinpath(SCHEMA_RESOURCE).read_bytes()
    return etree.ElementTree(parse_xml(data))
