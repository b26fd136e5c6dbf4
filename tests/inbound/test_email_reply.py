"""Reading e-mail replies: the person's own first line, machine-sent mail, and acknowledgement addresses."""

from __future__ import annotations

import base64
import time
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.inbound.email_reply import EmailReply, first_parts, is_ack_address, read_email_reply

DOMAIN = "reply.example.org"
ALERT = "Shelter in place. Reply 1 if safe, 2 if you need help."


def plain(body: str, *, headers: str = "Subject: Re: Security alert\n") -> bytes:
    """A text/plain reply in UTF-8 with `body`, after `headers` (one per line)."""
    head = headers + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
    return (head + "Content-Transfer-Encoding: 8bit\n\n" + body).replace("\n", "\r\n").encode()


def html(body: str) -> bytes:
    """An HTML-only reply in UTF-8 with `body`."""
    head = (
        "Subject: Re: Security alert\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
    )
    return (head + "Content-Transfer-Encoding: 8bit\n\n" + body).replace("\n", "\r\n").encode()


def encoded(text: str, charset: str, cte: str) -> bytes:
    """A text/plain reply with `text` in `charset`, sent with transfer encoding `cte`."""
    message = EmailMessage()
    message["Subject"] = "Re: Security alert"
    message.set_content(text, charset=charset, cte=cte)
    return bytes(message)


def multipart(*parts: str, kind: str = "alternative", headers: str = "") -> bytes:
    """A multipart/`kind` message of `parts` (each: its headers, a blank line, its body)."""
    body = "".join(f"--b\n{part}\n" for part in parts)
    head = f"Subject: Re: Security alert\n{headers}MIME-Version: 1.0\n"
    text = f'{head}Content-Type: multipart/{kind}; boundary="b"\n\n{body}--b--\n'
    return text.replace("\n", "\r\n").encode()


GMAIL_HTML = (
    '<div dir="ltr">2</div><br><div class="gmail_quote gmail_quote_container">'
    '<div dir="ltr" class="gmail_attr">On Mon, 30 Nov 2026 at 12:00, Security Office '
    "&lt;ens@example.org&gt; wrote:<br></div>"
    f'<blockquote class="gmail_quote" style="margin:0 0 0 .8ex">{ALERT}</blockquote></div>'
)
OUTLOOK_HTML = (
    '<html><head><style>p {margin: 0}</style></head><body><div dir="ltr">'
    '<div style="font-family: Calibri">1</div></div><div id="appendonsend"></div>'
    '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr">'
    "<b>From:</b> Security Office<br><b>Sent:</b> Monday, 30 November 2026 12:00<br>"
    f"<b>Subject:</b> Security alert</div><div>{ALERT}</div></body></html>"
)
THUNDERBIRD_BOTTOM_POST = (
    '<div class="moz-cite-prefix">On 30/11/2026 12:00, Security Office wrote:<br></div>'
    f'<blockquote type="cite">{ALERT}</blockquote><p>2</p>'
)
DSN = multipart(
    "Content-Type: text/plain\n\nYour message could not be delivered.",
    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
    "Final-Recipient: rfc822; ens@example.org\nAction: failed\nStatus: 5.1.1",
    kind="report; report-type=delivery-status",
)


@pytest.mark.parametrize(
    ("raw", "first_line"),
    [
        pytest.param(plain("1\n"), "1", id="plain"),
        pytest.param(plain("\n\n   Safe at home  \n"), "Safe at home", id="blank-lines-first"),
        pytest.param(
            plain(
                "2\n\nOn Mon, 30 Nov 2026 at 12:00, Security Office <ens@example.org> wrote:\n"
                f"> {ALERT}\n"
            ),
            "2",
            id="top-posted",
        ),
        pytest.param(plain(f"> {ALERT}\n>\n\n1\n"), "1", id="bottom-posted"),
        pytest.param(
            plain(f"On Mon, 30 Nov 2026, Security Office wrote:\n\n> {ALERT}\n\n2\n"),
            "2",
            id="bottom-posted-after-attribution",
        ),
        pytest.param(
            plain(
                "On Mon, 30 Nov 2026 at 12:00, Security Office <ens@example.org>\nwrote:\n"
                f"> {ALERT}\n\n1\n"
            ),
            "1",
            id="attribution-wrapped-on-two-lines",
        ),
        pytest.param(
            plain(f"On Mon, 30 Nov 2026 at 12:00, Security Office wrote:\n{ALERT}\n"),
            "",
            id="attribution-then-unquoted-original",
        ),
        pytest.param(
            plain(f"2\n-----Original Message-----\nFrom: Security Office\n\n{ALERT}"),
            "2",
            id="outlook-original-message",
        ),
        pytest.param(plain(f"-----Original Message-----\n{ALERT}"), "", id="only-original-message"),
        pytest.param(
            plain(f"________________________________\nFrom: Security Office\n{ALERT}"),
            "",
            id="outlook-separator",
        ),
        pytest.param(
            plain(f"From: Security Office <ens@example.org>\nSent: Monday\n\n{ALERT}"),
            "",
            id="outlook-header-block",
        ),
        pytest.param(plain(f"---------- Forwarded message ---------\n{ALERT}"), "", id="forwarded"),
        pytest.param(plain("-- \nAmina Diallo\nReply 1 if safe"), "", id="signature-first"),
        pytest.param(plain("  2  \n-- \nAmina Diallo\n"), "2", id="signature-after"),
        pytest.param(
            plain(
                "1\n\nLe lun. 30 nov. 2026 à 12:00, Bureau de sécurité <ens@example.org> "
                "a écrit :\n> Répondez 1 si vous êtes en sécurité\n"
            ),
            "1",
            id="french-top-posted",
        ),
        pytest.param(
            plain("Le lun. 30 nov. 2026 à 12:00, Bureau de sécurité a écrit :\nRépondez 1"),
            "",
            id="french-attribution",
        ),
        pytest.param(
            plain("El lun, 30 nov 2026 a las 12:00, Oficina de seguridad escribió:\nResponda 1"),
            "",
            id="spanish-attribution",
        ),
        pytest.param(
            plain("30.11.2026 12:00, Служба безопасности написал(а):\nОтветьте 1"),
            "",
            id="russian-attribution",
        ),
        pytest.param(
            plain("пн, 30 нояб. 2026 г. в 12:00, Служба <ens@example.org>:\nОтветьте 1"),
            "",
            id="russian-gmail-attribution",
        ),
        pytest.param(
            plain("في الاثنين، 30 نوفمبر 2026، كتب مكتب الأمن:\nأجب 1"),
            "",
            id="arabic-attribution",
        ),
        pytest.param(
            plain(
                "في الاثنين، 30 نوفمبر 2026 في 12:00 م، كتب \u202aمكتب الأمن\u202c "
                "\u200f<\u202aens@example.org\u202c>\u200f:\u202c\nأجب 1"
            ),
            "",
            id="arabic-gmail-attribution",
        ),
        pytest.param(
            plain("安全办公室 <ens@example.org> 于2026年11月30日周一 12:00写道：\n回复 1"),
            "",
            id="chinese-attribution",
        ),
        pytest.param(
            plain("De : Bureau de sécurité\nEnvoyé : lundi 30 novembre 2026\nRépondez 1"),
            "",
            id="french-header-block",
        ),
        pytest.param(
            plain("От: Служба безопасности\nОтправлено: 30 ноября 2026\nОтветьте 1"),
            "",
            id="russian-header-block",
        ),
        pytest.param(plain("ПОМОЩЬ\n\n> Ответьте 1"), "ПОМОЩЬ", id="russian-answer"),
        pytest.param(plain("\u200f\u200eآمن\u200f\n"), "آمن", id="arabic-with-direction-marks"),
        pytest.param(plain(""), "", id="empty"),
        pytest.param(plain("> only quoted\n> text\n"), "", id="only-quoted"),
        pytest.param(html(GMAIL_HTML), "2", id="gmail-html"),
        pytest.param(html(OUTLOOK_HTML), "1", id="outlook-html"),
        pytest.param(html(THUNDERBIRD_BOTTOM_POST), "2", id="html-bottom-posted"),
        pytest.param(
            html(
                "<html><head><title>Re</title><style>p{color:red}</style>"
                "<script>var a = '1';</script></head><body><p>&nbsp;</p>"
                "<p>Safe &amp;\n   sound</p></body></html>"
            ),
            "Safe & sound",
            id="html-entities-styles-scripts",
        ),
        pytest.param(html("<div>2<br>Amina</div>"), "2", id="html-br"),
        pytest.param(
            html("<!--[if mso]><p>1</p><![endif]--><!DOCTYPE html><div>2</div>"),
            "2",
            id="html-comments-and-declarations",
        ),
        pytest.param(html("<p>2 &lt; 3 and 1 < 4</p>"), "2 < 3 and 1 < 4", id="html-lone-lt"),
        pytest.param(html("<p>1</p><a href='x' "), "1", id="html-unclosed-tag"),
        pytest.param(
            html('<SCRIPT>document.write("<p>1</p>")</SCRIPT ><P>2</P>'),
            "2",
            id="html-script-with-markup-inside",
        ),
        pytest.param(
            html("<DIV>2</DIV><DIV ID='x_divRplyFwdMsg'>1</DIV>"), "2", id="html-upper-case"
        ),
        pytest.param(
            multipart(
                "Content-Type: text/plain; charset=utf-8\n\n1",
                "Content-Type: text/html; charset=utf-8\n\n<p>2</p>",
            ),
            "1",
            id="plain-preferred-to-html",
        ),
        pytest.param(
            multipart(
                "Content-Type: text/plain; charset=utf-8\n\n",
                "Content-Type: text/html; charset=utf-8\n\n<p>2</p>",
            ),
            "2",
            id="html-when-plain-is-empty",
        ),
        pytest.param(
            multipart(
                "Content-Type: text/plain\n\n",
                'Content-Type: text/plain\nContent-Disposition: attachment; filename="a.txt"\n\n1',
                kind="mixed",
            ),
            "",
            id="attachment-not-read",
        ),
        pytest.param(
            multipart(
                "Content-Type: message/rfc822\n\nSubject: Security alert\n\n1",
                "Content-Type: text/plain\n\n2",
                kind="mixed",
            ),
            "2",
            id="attached-message-not-read",
        ),
    ],
)
def test_first_line_is_the_persons_own_text(raw: bytes, first_line: str) -> None:
    """The first line is the person's first line, never a line of the quoted alert."""
    assert read_email_reply(raw).first_line == first_line


@pytest.mark.parametrize(
    ("text", "charset", "cte"),
    [
        ("آمن", "utf-8", "base64"),
        ("آمن", "utf-8", "quoted-printable"),
        ("آمن", "windows-1256", "base64"),
        ("安全", "utf-8", "base64"),
        ("安全", "gb2312", "base64"),
        ("ПОМОЩЬ", "utf-8", "quoted-printable"),
        ("ПОМОЩЬ", "koi8-r", "quoted-printable"),
        ("ПОМОЩЬ", "koi8-r", "8bit"),
    ],
)
def test_answers_in_any_charset_and_transfer_encoding(text: str, charset: str, cte: str) -> None:
    """Arabic, Chinese and Russian answers are decoded from their charset and encoding."""
    assert read_email_reply(encoded(text, charset, cte)).first_line == text


def test_gbk_text_labelled_gb2312_is_decoded() -> None:
    """Chinese mail labelled gb2312 but using GBK characters is read with the superset."""
    body = base64.b64encode("安全 镕".encode("gbk")).decode()
    raw = f"Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: base64\n\n{body}"
    assert read_email_reply(raw.encode()).first_line == "安全 镕"


@pytest.mark.parametrize(
    ("content_type", "body", "first_line"),
    [
        ("text/plain; charset=x-no-such-charset", "安全".encode(), "安全"),
        ("text/plain; charset=zlib", b"2", "2"),
        ("text/plain; charset=utf-8", b"1 \xff\xfe", "1 \ufffd\ufffd"),
        ("text/plain", "ПОМОЩЬ".encode(), "ПОМОЩЬ"),
    ],
)
def test_unknown_or_wrong_charsets_fall_back_to_utf8(
    content_type: str, body: bytes, first_line: str
) -> None:
    """An unknown, non-text or missing charset reads as UTF-8; bad bytes become U+FFFD."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    assert read_email_reply(raw).first_line == first_line


def test_first_line_is_bounded() -> None:
    """A one-line megabyte yields a bounded first line."""
    assert len(read_email_reply(plain("1" * 1_000_000)).first_line) == 1000


@pytest.mark.parametrize(
    ("headers", "automatic"),
    [
        ("Auto-Submitted: auto-replied\n", "auto-submitted"),
        ("Auto-Submitted: auto-generated; owner-email=x@example.org\n", "auto-submitted"),
        ("Auto-Submitted: no\n", None),
        ("Auto-Submitted: No\n", None),
        ("X-Autoreply: yes\n", "autoreply"),
        ("X-Autorespond: Out of office\n", "autoreply"),
        ("X-Auto-Response-Suppress: All\n", None),
        ("Precedence: bulk\n", "bulk"),
        ("Precedence: junk\n", "bulk"),
        ("Precedence: list\n", "bulk"),
        ("Precedence: auto_reply\n", "autoreply"),
        ("List-Id: <staff.example.org>\n", "bulk"),
        ("List-Unsubscribe: <mailto:leave@example.org>\n", "bulk"),
        ("Subject: Automatic reply: Security alert\n", "vacation"),
        ("Subject: Out of Office: Security alert\n", "vacation"),
        ("Subject: Auto: Security alert\n", "vacation"),
        ("Subject: Autoreply: Security alert\n", "vacation"),
        ("Subject: =?utf-8?q?R=C3=A9ponse_automatique_=3A_Alerte?=\n", "vacation"),
        ("Subject: Absence du bureau\n", "vacation"),
        ("Subject: =?utf-8?b?UmVzcHVlc3RhIGF1dG9tw6F0aWNhOiBBbGVydGE=?=\n", "vacation"),
        ("Subject: Fuera de la oficina\n", "vacation"),
        ("Subject: =?koi8-r?b?4dfUz8/U18XUOiDz1NLFzA==?=\n", "vacation"),
        ("Subject: 自动回复: 安全警报\n", "vacation"),
        ("Subject: Re: Security alert\n", None),
        ("Subject: Re: Automatic reply\n", None),
    ],
)
def test_automatic_replies_are_recognised(headers: str, automatic: str | None) -> None:
    """Auto-replies, vacation notices and list mail are marked; people's replies are not."""
    assert read_email_reply(plain("1", headers=headers)).automatic == automatic


def test_delivery_status_report_is_automatic() -> None:
    """A bounce (multipart/report DSN) is marked as a delivery status."""
    assert read_email_reply(DSN).automatic == "delivery-status"


def test_bare_delivery_status_is_automatic() -> None:
    """A message/delivery-status message is marked as a delivery status."""
    raw = b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
    assert read_email_reply(raw).automatic == "delivery-status"


@pytest.mark.parametrize(
    ("headers", "message_id"),
    [
        ("Message-ID: <CAF+abc.123@mail.gmail.com>\n", "CAF+abc.123@mail.gmail.com"),
        ("Message-Id:   <x@y>  \n", "x@y"),
        ("Message-ID: \n", None),
        ("", None),
    ],
)
def test_message_id_without_brackets(headers: str, message_id: str | None) -> None:
    """The Message-ID comes without angle brackets, or None when there is none."""
    assert read_email_reply(plain("1", headers=headers)).message_id == message_id


def test_whole_reply_read() -> None:
    """A reply yields its first line, no automatic marker, and its Message-ID together."""
    raw = plain("2\n", headers="Subject: Re: Alert\nMessage-ID: <m1@example.org>\n")
    assert read_email_reply(raw) == EmailReply("2", None, "m1@example.org")


def test_deeply_nested_message_does_not_raise() -> None:
    """A hostile message nesting parts thousands deep is read without error."""
    level = b'--b\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + level * 3000
    assert read_email_reply(raw).first_line == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
        b"Content-Type: text/plain; charset=idna\r\n\r\n\xff\xff",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!=",
        b"Content-Type: text/html\r\n\r\n<![if !supportLists]>2",
        b"Subject: =?bogus?q?x?=\r\nMessage-ID: <<<\r\n\r\n1",
        "Subject: 自动\udcff\r\n\r\n1".encode("utf-8", "surrogateescape"),
    ],
)
def test_malformed_messages_do_not_raise(raw: bytes) -> None:
    """Broken MIME, charsets, encodings and markup give a reply, never an exception."""
    assert isinstance(read_email_reply(raw), EmailReply)


@given(st.binary())
def test_any_bytes_never_raise(raw: bytes) -> None:
    """Whatever the bytes, reading them gives a reply."""
    assert isinstance(read_email_reply(raw), EmailReply)


@given(st.binary(), st.sampled_from([b"text/plain", b"text/html", b"multipart/mixed"]))
def test_any_body_never_raises(body: bytes, content_type: bytes) -> None:
    """Whatever the body of a plain, HTML or multipart message, reading it gives a reply."""
    raw = b"Content-Type: " + content_type + b'; boundary="b"\r\n\r\n' + body
    assert isinstance(read_email_reply(raw), EmailReply)


@given(st.text() | st.text(alphabet="<>!-/?'\"= &#;abdiv"))
def test_any_html_never_raises(text: str) -> None:
    """Whatever the HTML, reading it gives a reply."""
    assert isinstance(read_email_reply(html(text)), EmailReply)


@pytest.mark.parametrize(
    "raw",
    [
        html("<!--" * 250_000),
        html("<a b='" * 160_000),
        html("<a" * 500_000),
        html("<" * 1_000_000 + ">"),
        plain("كتب " * 250_000),
        plain(" " * 1_000_000 + "x"),
        plain("On Mon, Security Office <ens@example.org> wrote:\n>\n" * 20_000),
    ],
    ids=["comments", "quotes", "tags", "lone-lt", "long-line", "blanks", "attributions"],
)
def test_hostile_megabyte_is_read_in_linear_time(raw: bytes) -> None:
    """Inputs that take minutes with quadratic parsing are read within seconds."""
    started = time.perf_counter()
    read_email_reply(raw)
    assert time.perf_counter() - started < 5


def parts(count: int, *, newline: str = "\r\n", first: str = "1") -> bytes:
    """A multipart reply of `count` one-line parts, the first saying `first`."""
    body = "".join(
        f"--b{newline}Content-Type: text/plain{newline}{newline}{first if n == 0 else n}{newline}"
        for n in range(count)
    )
    head = f'Subject: Re: Security alert{newline}Content-Type: multipart/mixed; boundary="b"'
    return f"{head}{newline}{newline}{body}--b--{newline}".encode()


@pytest.mark.parametrize(
    ("raw", "max_parts", "kept", "cut"),
    [
        pytest.param(parts(3), 3, parts(3)[: -len(b"--b--\r\n")], True, id="closing-line-only"),
        pytest.param(parts(3), 4, parts(3), False, id="within"),
        pytest.param(b"x\n--b\n--b\n", 1, b"x\n--b\n", True, id="lf"),
        pytest.param(b"x\r--b\r--b\r", 1, b"x\r--b\r", True, id="bare-cr"),
        pytest.param(b"x\n-- \nsig\n--\n", 1, b"x\n-- \nsig\n", True, id="signature-counts"),
        pytest.param(b"a-- b\n-x\n", 0, b"a-- b\n-x\n", False, id="not-at-line-start"),
    ],
)
def test_parts_beyond_the_limit_are_cut_off(
    raw: bytes, max_parts: int, kept: bytes, cut: bool
) -> None:
    """A message is cut before its line number max_parts + 1 that starts with `--`, any newline."""
    assert first_parts(raw, max_parts) == (kept, cut)


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_reply_of_24000_parts_is_read_from_its_first(newline: str) -> None:
    """A reply of 24,000 parts yields its first part's answer, read from the first 100 only."""
    reply = read_email_reply(parts(24_000, newline=newline, first="2"), max_parts=100)
    assert (reply.first_line, reply.truncated) == ("2", True)
    assert not read_email_reply(parts(99, newline=newline)).truncated


@pytest.mark.parametrize(
    ("address", "token"),
    [
        (f"ack+abc123@{DOMAIN}", "abc123"),
        ("ACK+ABC123@REPLY.EXAMPLE.ORG", "ABC123"),
        (f"<ack+abc123@{DOMAIN}>", "abc123"),
        (f"  ack+abc123@{DOMAIN}  ", "abc123"),
        (f"ack+abc123@{DOMAIN}.", "abc123"),
        ("ack+abc123@other.example.org", None),
        (f"ack+abc123@sub.{DOMAIN}", None),
        ("ack+abc123@example.org", None),
        (f"ackabc123@{DOMAIN}", None),
        (f"nack+abc123@{DOMAIN}", None),
        (f"acks+abc123@{DOMAIN}", None),
        (f"abc123@{DOMAIN}", None),
        (f"postmaster@{DOMAIN}", None),
        (f"ack+@{DOMAIN}", None),
        (f"ack+abc@other@{DOMAIN}", None),
        (f'"ack+abc 123"@{DOMAIN}', None),
        (f"ack+{'a' * 65}@{DOMAIN}", None),
        ("ack+abc123", None),
        ("", None),
    ],
)
def test_ack_address(address: str, token: str | None) -> None:
    """Only ack+TOKEN at the reply domain yields a token; case and brackets do not matter."""
    assert is_ack_address(address, DOMAIN) == token
