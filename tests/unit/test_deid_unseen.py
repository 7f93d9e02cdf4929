"""De-identification on PII forms the main fixtures never used: credentials in URLs, full-width
and invisible characters, Chinese street addresses, malformed input files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotune.errors import DataError
from cotune.privacy.deid import build_detector, redact_file
from cotune.privacy.deid import spans as T
from cotune.privacy.deid.dates import find_dates
from cotune.privacy.deid.pseudonymize import Pseudonymizer


@pytest.fixture(scope="module")
def detector():
    return build_detector(backend="cotune")


def _found(detector, text: str) -> list[tuple[str, str]]:
    return [(s.type, s.text) for s in detector.detect(text)]


def test_credentials_in_a_url_go_with_the_url(detector) -> None:
    text = "Visit https://user:pass@example.com/path?token=abc&id=5."
    assert _found(detector, text) == [(T.URL, "https://user:pass@example.com/path?token=abc&id=5")]
    assert _found(detector, "mailto:jane@example.com?subject=hi")[0] == (
        T.EMAIL,
        "jane@example.com",
    )


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (
            "邮箱：ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ。",
            T.EMAIL,
            "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ),
        (
            "身份证：４４０３０５１９９００３０７１２３６。",
            T.CN_ID,
            "４４０３０５１９９００３０７１２３６",
        ),
        (
            "Card 4111\u00a01111\u00a01111\u00a01111 ok",
            T.CREDIT_CARD,
            "4111\u00a01111\u00a01111\u00a01111",
        ),
        ("Mail alice\u200b@example.com now", T.EMAIL, "alice\u200b@example.com"),
        ("出生日期：１９８５年３月７日", T.DOB, "１９８５年３月７日"),
        ("SSN 078\u201105\u20111120.", T.US_SSN, "078\u201105\u20111120"),
    ],
)
def test_full_width_spaces_and_invisible_characters_do_not_hide_pii(
    detector, text: str, kind: str, value: str
) -> None:
    assert (kind, value) in _found(detector, text)


def test_full_width_values_get_their_own_consistent_pseudonyms() -> None:
    pz = Pseudonymizer()
    a = pz.replace(T.CN_ID, "４４０３０５１９９００３０７１２３６")
    b = pz.replace(T.CN_ID, "１１０１０５１９４９１２３１００２Ｘ")
    assert a != b  # two people, two pseudonyms (both keys were "" before)
    assert pz.replace(T.CN_ID, "440305199003071236") == a
    assert pz.replace(T.EMAIL, "alice\u200b@example.com") == pz.replace(
        T.EMAIL, "alice@example.com"
    )
    fake = Pseudonymizer({"*": "surrogate"}).replace(T.PHONE, "１３９１２３４５６７８")
    assert fake.isascii() and fake.isdigit() and len(fake) == 11


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("明天我们去上海市浦东新区世纪大道100号。", "上海市浦东新区世纪大道100号"),
        (
            "地址：北京市朝阳区建国路88号院3号楼2单元501室，邮编100022",
            "北京市朝阳区建国路88号院3号楼2单元501室",
        ),
        ("工人路5号是我家。", "工人路5号"),
        ("Lives at 221B Baker Street, London NW1 6XE.", "221B Baker Street"),
        ("Ship to 1600 Pennsylvania Avenue NW, Washington.", "1600 Pennsylvania Avenue NW"),
    ],
)
def test_street_addresses_are_replaced_whole(detector, text: str, value: str) -> None:
    assert (T.LOCATION, value) in _found(detector, text)


def test_only_whole_words_stop_a_place_chunk(detector) -> None:
    assert _found(detector, "我在上海市工作。") == [(T.LOCATION, "上海市")]  # 上 of 上班, not 上海
    assert _found(detector, "他上班的地方在杭州市西湖区。") == [(T.LOCATION, "杭州市西湖区")]
    assert _found(detector, "他在家附近的超市买东西。") == []


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("a.conll", "zyx\tB-PER\nqwerty\nsaid\tO\n", 2, "1 column(s)"),
        (
            "a.jsonl",
            '{"tokens": ["zyx", "qwerty", "x"], "tags": ["B-PER", "I-PER"]}\n',
            1,
            "3 tokens",
        ),
        ("a.jsonl", '{"text": "mail a@b.com"}\n{"text": bad}\n', 2, "not valid JSON"),
    ],
)
def test_malformed_token_data_stops_naming_file_and_line(
    detector, tmp_path: Path, name: str, content: str, line: int, message: str
) -> None:
    src, out = tmp_path / name, tmp_path / ("out-" + name)
    src.write_text(content, encoding="utf-8")
    out.write_text("earlier output\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        redact_file(src, out, detector)
    assert err.value.where == f"{src}:{line}" and message in err.value.what and err.value.fix
    assert out.read_text(encoding="utf-8") == "earlier output\n"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("john@example.com13912345678", T.EMAIL, "john@example.com"),
        ("iban gb82 west 1234 5698 7654 32", T.IBAN, "gb82 west 1234 5698 7654 32"),
        ("DOB 19850307", T.DOB, "19850307"),
        ("出生日期：19850307", T.DOB, "19850307"),
        ("昨天李明给我打电话。", T.PERSON, "李明"),
        ("刚才张伟说他要走。", T.PERSON, "张伟"),
    ],
)
def test_pii_forms_the_fixtures_never_used(detector, text: str, kind: str, value: str) -> None:
    assert (kind, value) in _found(detector, text)


def test_initials_alone_are_not_a_person(detector) -> None:
    assert _found(detector, "D.O.B. 12-Jan-1990") == [(T.DOB, "12-Jan-1990")]


def test_compact_dates_keep_their_form_in_surrogates() -> None:
    fake = Pseudonymizer({"*": "surrogate"}).replace(T.DOB, "19851207")
    (date,) = find_dates(fake)
    assert date.text == fake and len(fake) == 8 and fake != "19851207"
