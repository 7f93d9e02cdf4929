"""De-identification: every PII type is found, replacements are consistent and well-formed, NER
tags stay aligned, and redact -> vault -> re-identify gives back the original exactly."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.errors import ConfigError, DataError
from cotune.privacy.deid import (
    Vault,
    build_detector,
    checks,
    load_key,
    redact_file,
    reidentify_file,
)
from cotune.privacy.deid import spans as T
from cotune.privacy.deid.birth import find_dates_of_birth
from cotune.privacy.deid.dates import find_dates
from cotune.privacy.deid.edits import restore_by_mapping
from cotune.privacy.deid.pseudonymize import Pseudonymizer, parse_policies
from cotune.privacy.deid.recognizers import find_credit_cards, find_ibans

from .helpers import tiny_config

# One sentence per type and language; the expected value is exactly what must be found.
FOUND = [
    (T.EMAIL, "Write to thandiwe.okafor@proton.me today.", "thandiwe.okafor@proton.me"),
    (T.EMAIL, "我的邮箱是wang.xm@qq.com，请查收。", "wang.xm@qq.com"),
    (T.PHONE, "Call (415) 555-0132 after lunch.", "(415) 555-0132"),
    (T.PHONE, "London office: +44 20 7946 0958.", "+44 20 7946 0958"),
    (T.PHONE, "请拨打13812345678联系我。", "13812345678"),
    (T.PHONE, "手机：+86 139-1234-5678。", "+86 139-1234-5678"),
    (T.CREDIT_CARD, "Card 4111 1111 1111 1111 was declined.", "4111 1111 1111 1111"),
    (T.CREDIT_CARD, "Amex 3782-822463-10005 on file.", "3782-822463-10005"),
    (T.IBAN, "IBAN DE89 3704 0044 0532 0130 00 please.", "DE89 3704 0044 0532 0130 00"),
    (T.IBAN, "请汇款至GB82WEST12345698765432。", "GB82WEST12345698765432"),
    (T.IP, "Blocked 203.0.113.77 twice.", "203.0.113.77"),
    (T.IP, "来源地址2001:db8::8a2e:370:7334异常。", "2001:db8::8a2e:370:7334"),
    (
        T.URL,
        "See https://www.kestrelbay.com/files/contract.pdf.",
        "https://www.kestrelbay.com/files/contract.pdf",
    ),
    (T.URL, "详情访问www.xinhe.net/id了解。", "www.xinhe.net/id"),
    (T.US_SSN, "Her SSN is 078-05-1120.", "078-05-1120"),
    (T.CN_ID, "身份证号11010519491231002X。", "11010519491231002X"),
    (T.DOB, "She was born on March 3rd, 1985 in a small town.", "March 3rd, 1985"),
    (T.DOB, "DOB: 07/03/1985", "07/03/1985"),
    (T.DOB, "他出生于1990年5月17日。", "1990年5月17日"),
    (T.PERSON, "Please ask Oluwaseun Castellanos about it.", "Oluwaseun Castellanos"),
    (T.PERSON, "Dr. Whitcombe will see you now.", "Whitcombe"),
    (T.PERSON, "请联系李娜，她负责这个项目。", "李娜"),
    (T.PERSON, "我叫欧阳子轩。", "欧阳子轩"),
    (T.ORG, "She joined Brightwater Analytics Ltd in May.", "Brightwater Analytics Ltd"),
    (T.ORG, "他在星河网络科技有限公司工作。", "星河网络科技有限公司"),
    (T.LOCATION, "They moved to Kellerton last year.", "Kellerton"),
    (T.LOCATION, "Send it to 14 Harlow Street, please.", "14 Harlow Street"),
    (T.LOCATION, "我住在四川省绵阳市。", "四川省绵阳市"),
]
CLEAN = [
    "Order 48213 shipped on 2023-04-12 and arrives within five days.",
    "Version 2.4.1 fixes the login bug; the meeting moved to 3:30 pm.",
    "今天天气很好，我们去公园散步。",
    "报告的截止日期是2024年3月31日。",
]


@pytest.fixture(scope="module")
def detector():
    return build_detector(backend="cotune")


@pytest.mark.parametrize(
    ("kind", "text", "value"), FOUND, ids=[f"{k}-{i}" for i, (k, *_) in enumerate(FOUND)]
)
def test_every_pii_type_is_found(detector, kind: str, text: str, value: str) -> None:
    found = [(s.type, s.text) for s in detector.detect(text)]
    assert (kind, value) in found, found
    for s in detector.detect(text):
        assert text[s.start : s.end] == s.text


def test_every_type_is_covered_by_the_table() -> None:
    assert {k for k, *_ in FOUND} == set(T.ALL_TYPES)


@pytest.mark.parametrize("text", CLEAN)
def test_pii_free_sentences_stay_clean(detector, text: str) -> None:
    assert detector.detect(text) == []


def test_validation_rejects_look_alikes(detector) -> None:
    assert find_credit_cards("card 4111 1111 1111 1112") == []  # Luhn fails
    assert find_ibans("IBAN DE88 3704 0044 0532 0130 00") == []  # mod-97 fails
    assert not checks.cn_id_ok("110105194912310021")  # wrong check digit
    assert not checks.cn_id_ok("110105194913310028")  # month 13
    types = {
        s.type
        for s in detector.detect("ID 110105194912310021, SSN 000-12-3456, meeting 1985-03-03")
    }
    assert not types & {T.CN_ID, T.US_SSN, T.DOB}
    assert find_dates_of_birth("The invoice is dated 1985-03-03.") == []


def test_check_digits_match_published_examples() -> None:
    assert checks.luhn_ok("4111111111111111") and checks.luhn_ok("378282246310005")
    assert checks.iban_ok("GB82WEST12345698765432") and checks.iban_ok("DE89370400440532013000")
    assert checks.iban_check_digits("GB", "WEST12345698765432") == "82"
    assert checks.cn_id_check_char("11010519491231002") == "X"


def test_presidio_backend_finds_the_same_spans() -> None:
    """Presidio orchestrates cotune's recognisers; it must not change what they find."""
    presidio = build_detector(backend="presidio")
    plain = build_detector(backend="cotune")
    texts = [t for _, t, _ in FOUND] + CLEAN
    assert presidio.detect_batch(texts) == plain.detect_batch(texts)


# ------------------------------------------------------------------ replacements


def test_pseudonyms_are_consistent_per_value() -> None:
    pz = Pseudonymizer()
    a = pz.replace(T.PERSON, "John Smith")
    assert pz.replace(T.PERSON, "JOHN   smith") == a == "<PERSON_1>"
    assert pz.replace(T.PERSON, "Jane Smith") == "<PERSON_2>"
    assert pz.replace(T.PHONE, "+86 138 1234 5678") == pz.replace(T.PHONE, "13812345678")
    # a second pseudonymiser restored from the state continues the same mapping
    again = Pseudonymizer(state=pz.state())
    assert again.replace(T.PERSON, "john smith") == a
    assert again.replace(T.ORG, "Acme Inc") == "<ORGANIZATION_1>"


def test_surrogates_keep_the_form_and_pass_the_checks() -> None:
    pz = Pseudonymizer({"*": "surrogate"})
    card = pz.replace(T.CREDIT_CARD, "4111 1111 1111 1111")
    assert len(card) == 19 and card[4] == " " and checks.luhn_ok(card.replace(" ", ""))
    iban = pz.replace(T.IBAN, "DE89 3704 0044 0532 0130 00")
    assert iban.startswith("DE") and checks.iban_ok(iban.replace(" ", ""))
    cn_id = pz.replace(T.CN_ID, "11010519491231002X")
    assert checks.cn_id_ok(cn_id)
    ssn = pz.replace(T.US_SSN, "078-05-1120")
    assert [len(p) for p in ssn.split("-")] == [3, 2, 4] and ssn != "078-05-1120"
    assert "年" in pz.replace(T.DOB, "1985年3月7日")
    assert "@" in pz.replace(T.EMAIL, "a.b@c.com")
    zh = pz.replace(T.PERSON, "王小明")
    assert len(zh) == 3 and zh != "王小明"
    assert pz.replace(T.LOCATION, "四川省绵阳市").endswith("市")
    # deterministic given the secret; different with another secret
    same = Pseudonymizer({"*": "surrogate"}, state={"secret": pz.secret.hex()})
    assert same.replace(T.CREDIT_CARD, "4111-1111-1111-1111") == card.replace(" ", "-")
    other = Pseudonymizer({"*": "surrogate"})
    assert other.replace(T.CREDIT_CARD, "4111 1111 1111 1111") != card


def test_policies_parse_with_short_names_and_default() -> None:
    assert parse_policies(["EMAIL=mask", "*=surrogate"]) == {T.EMAIL: "mask", "*": "surrogate"}
    with pytest.raises(ConfigError):
        parse_policies(["PERSON=shred"])
    with pytest.raises(ConfigError):
        parse_policies(["SHOE_SIZE=mask"])


# ------------------------------------------------------------------ files, vault, round trips


@pytest.fixture()
def vault(tmp_path: Path) -> Vault:
    key = load_key(tmp_path / "owner.key", create=True)
    return Vault.open(tmp_path / "corpus.vault", key, create=True)


TEXT = """Dear Mr. Thandiwe Okafor, your card 4111 1111 1111 1111 was charged.
我叫王小明，手机13812345678，邮箱wxm@qq.com，身份证11010519491231002X。

No PII here, just a meeting on 2021-05-04.
thandiwe okafor was born on March 3rd, 1985; write to t.okafor@proton.me\r
"""

CONLL = """-DOCSTART-\tO

Thandiwe\tB-person
Okafor\tI-person
emailed\tO
bob@example.org\tO
from\tO
Kellerton\tB-geo-loc
.\tO

王\tB-PER
小\tI-PER
明\tI-PER
住\tO
在\tO
北\tB-LOC
京\tI-LOC
市\tI-LOC

Nothing\tO
here\tO
"""


@pytest.mark.parametrize("policy", ["pseudonym", "surrogate", "mask"])
def test_text_round_trip_is_exact(detector, vault: Vault, tmp_path: Path, policy: str) -> None:
    src, out, back = tmp_path / "notes.txt", tmp_path / "notes.red.txt", tmp_path / "notes.back.txt"
    src.write_bytes(TEXT.encode())
    report = redact_file(src, out, detector, policies={"*": policy}, vault=vault)
    redacted = out.read_text(encoding="utf-8")
    for secret in ("Okafor", "4111", "13812345678", "wxm@qq.com", "11010519491231002X", "1985"):
        assert secret not in redacted
    assert "2021-05-04" in redacted  # not a date of birth
    assert report["per_type"][T.PERSON]["occurrences"] >= 2
    reopened = Vault.open(vault.path, vault.key)
    summary = reidentify_file(out, back, reopened)
    assert summary["mode"] == "exact"
    assert back.read_bytes() == src.read_bytes()


def test_same_person_gets_the_same_pseudonym_across_files(
    detector, vault: Vault, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("Thandiwe Okafor called.\n", encoding="utf-8")
    b.write_text("We emailed THANDIWE OKAFOR again.\n", encoding="utf-8")
    redact_file(a, tmp_path / "a.red", detector, vault=vault)
    redact_file(b, tmp_path / "b.red", detector, vault=Vault.open(vault.path, vault.key))
    assert "<PERSON_1>" in (tmp_path / "a.red").read_text()
    assert "<PERSON_1>" in (tmp_path / "b.red").read_text()


def _sentences(text: str) -> list[list[list[str]]]:
    out: list[list[list[str]]] = [[]]
    for line in text.splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if out[-1]:
                out.append([])
            continue
        out[-1].append(line.split("\t"))
    return [s for s in out if s]


def _valid_iob2(tags: list[str]) -> bool:
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


@pytest.mark.parametrize("policy", ["pseudonym", "surrogate", "mask"])
def test_conll_tags_stay_aligned_and_round_trip(
    detector, vault: Vault, tmp_path: Path, policy: str
) -> None:
    src, out, back = (
        tmp_path / "train.conll",
        tmp_path / "train.red.conll",
        tmp_path / "train.back.conll",
    )
    src.write_text(CONLL, encoding="utf-8")
    redact_file(src, out, detector, policies={"*": policy}, vault=vault)
    red = out.read_text(encoding="utf-8")
    assert red.startswith("-DOCSTART-\tO\n\n")
    sents = _sentences(red)
    assert len(sents) == 3
    for sent in sents:
        assert all(len(row) == 2 for row in sent)  # one tag per token, always
        assert _valid_iob2([row[1] for row in sent])
    en, zh, clean = sents
    assert "Okafor" not in red and "bob@example.org" not in red and "Kellerton" not in red
    # gold entities stay entities of the same type; the e-mail (O in the gold) stays O
    assert en[0][1] == "B-person" and all(r[1] in ("I-person", "O") for r in en[1:3])
    assert [r[1] for r in en if r[0] == "from"] == ["O"]
    assert any(r[1] == "B-geo-loc" for r in en)
    assert zh[0][1] == "B-PER" and any(r[1] == "B-LOC" for r in zh)
    if policy == "pseudonym":
        assert [r[0] for r in en[:2]] == ["<PERSON_1>", "emailed"]
    if policy == "mask":  # masks keep the token count, so every tag stays where it was
        assert len(en) == 7 and len(zh) == 8
    if policy == "surrogate":  # character-level Chinese stays character-level
        assert all(len(r[0]) == 1 for r in zh[:3]) and [r[1] for r in zh[:3]] == [
            "B-PER",
            "I-PER",
            "I-PER",
        ]
    assert clean == [["Nothing", "O"], ["here", "O"]]
    reidentify_file(out, back, vault)
    assert back.read_bytes() == src.read_bytes()


def test_span_inside_an_entity_keeps_the_following_tag_valid(vault: Vault, tmp_path: Path) -> None:
    """A PII span that cuts an entity in two must not leave an I- tag without its B-."""
    src, out = tmp_path / "cut.conll", tmp_path / "cut.red.conll"
    src.write_text("Mail\tO\nbob@example.org\tB-product\nsupport\tI-product\n", encoding="utf-8")
    detector = build_detector(backend="cotune", names="none")
    redact_file(src, out, detector, vault=vault)
    tags = [line.split("\t")[1] for line in out.read_text().splitlines()]
    assert tags == ["O", "B-product", "I-product"]
    reidentify_file(out, tmp_path / "back.conll", vault)
    assert (tmp_path / "back.conll").read_bytes() == src.read_bytes()


def test_jsonl_and_csv_round_trip(detector, vault: Vault, tmp_path: Path) -> None:
    rows = [
        {"text": "Call Priyanka Lindqvist on +1 415-555-0198.", "label": "support"},
        {
            "tokens": ["Ravi", "Delacroix", "paid", "with", "4111111111111111"],
            "tags": ["B-PER", "I-PER", "O", "O", "O"],
            "pos": ["NNP", "NNP", "VBD", "IN", "CD"],
        },
        {"text": "nothing to see", "label": "other"},
    ]
    src = tmp_path / "data.jsonl"
    src.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    redact_file(src, tmp_path / "data.red.jsonl", detector, vault=vault)
    red = [json.loads(line) for line in (tmp_path / "data.red.jsonl").read_text().splitlines()]
    assert "Lindqvist" not in red[0]["text"] and red[0]["label"] == "support"
    assert red[1]["tokens"] == ["<PERSON_2>", "paid", "with", "<CREDIT_CARD_1>"]
    assert red[1]["tags"] == ["B-PER", "O", "O", "O"] and red[1]["pos"] == [
        "NNP",
        "VBD",
        "IN",
        "CD",
    ]
    reidentify_file(tmp_path / "data.red.jsonl", tmp_path / "data.back.jsonl", vault)
    back = [json.loads(line) for line in (tmp_path / "data.back.jsonl").read_text().splitlines()]
    assert back == rows

    table = [
        ["id", "note", "label"],
        ["1", "Customer Ingrid Nakamura, SSN 078-05-1120", "a"],
        ["2", "fine", "b"],
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table)
    csv_src = tmp_path / "notes.csv"
    csv_src.write_text(buf.getvalue(), encoding="utf-8")
    redact_file(csv_src, tmp_path / "notes.red.csv", detector, vault=vault)
    red_rows = list(csv.reader(io.StringIO((tmp_path / "notes.red.csv").read_text())))
    assert "Nakamura" not in red_rows[1][1] and red_rows[1][0] == "1" and red_rows[1][2] == "a"
    reidentify_file(tmp_path / "notes.red.csv", tmp_path / "notes.back.csv", vault)
    assert list(csv.reader(io.StringIO((tmp_path / "notes.back.csv").read_text()))) == table


def test_model_output_is_reidentified_by_mapping(detector, vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("Thandiwe Okafor lives in Kellerton.\n", encoding="utf-8")
    redact_file(src, tmp_path / "red.txt", detector, vault=vault)
    (tmp_path / "answer.txt").write_text("Summary: <PERSON_1> (from <LOCATION_1>) wrote in.\n")
    summary = reidentify_file(tmp_path / "answer.txt", tmp_path / "answer.back.txt", vault)
    assert summary["mode"] == "mapping" and summary["replacements"] == 2
    assert (
        tmp_path / "answer.back.txt"
    ).read_text() == "Summary: Thandiwe Okafor (from Kellerton) wrote in.\n"
    assert restore_by_mapping(
        "<PERSON_10> <PERSON_1>", {"<PERSON_1>": "a", "<PERSON_10>": "b"}
    ) == ("b a", 2)


def test_vault_is_encrypted_and_needs_its_key(detector, vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("Thandiwe Okafor, card 4111 1111 1111 1111\n", encoding="utf-8")
    redact_file(src, tmp_path / "red.txt", detector, vault=vault)
    raw = vault.path.read_bytes()
    assert b"Okafor" not in raw and b"4111" not in raw
    assert stat.S_IMODE((tmp_path / "owner.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    wrong = load_key(tmp_path / "other.key", create=True)
    with pytest.raises(ConfigError, match="does not open"):
        Vault.open(vault.path, wrong)
    with pytest.raises(ConfigError):
        load_key(tmp_path / "missing.key")


def test_redaction_never_overwrites_its_input(detector, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("Thandiwe Okafor\n", encoding="utf-8")
    with pytest.raises(DataError, match="overwrite"):
        redact_file(src, src, detector)
    assert src.read_text() == "Thandiwe Okafor\n"


def test_report_counts_types_and_hides_originals(detector, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text(TEXT, encoding="utf-8")
    report = redact_file(src, tmp_path / "red.txt", detector, report_path=tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["per_type"][T.CREDIT_CARD]["occurrences"] == 1
    assert saved["replacements"] == report["replacements"] > 5
    text = (tmp_path / "r.json").read_text() + (tmp_path / "r.md").read_text()
    assert "Okafor" not in text and "| CREDIT_CARD | 1 | 1 | pseudonym |" in text


def test_cli_redact_and_reidentify(tmp_path: Path) -> None:
    runner = CliRunner()
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT.encode())
    vault, key = tmp_path / "v.vault", tmp_path / "k.key"
    common = ["--vault", str(vault), "--key-file", str(key)]
    res = runner.invoke(
        app,
        [
            "redact",
            str(src),
            "--out",
            str(tmp_path / "red.txt"),
            "--backend",
            "cotune",
            "--policy",
            "EMAIL=mask",
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "t.okafor@proton.me" not in (tmp_path / "red.txt").read_text()
    assert (tmp_path / "red.txt.report.md").exists()
    res = runner.invoke(
        app, ["reidentify", str(tmp_path / "red.txt"), "--out", str(tmp_path / "back.txt"), *common]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()
    res = runner.invoke(app, ["redact", str(src), "--out", str(src), "--backend", "cotune"])
    assert res.exit_code == 2 and "overwrite" in res.output


def test_names_from_a_cotune_ner_artifact(tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.privacy.deid.names import ArtifactNameRecognizer
    from cotune.recipes.finetune import finetune

    folder = finetune(tiny_config(tiny_backbone, tmp_path, epochs=20, lr=5e-3), progress=False)
    detector = build_detector(ner_model=folder, backend="cotune")
    assert isinstance(detector.ner, ArtifactNameRecognizer)
    text = "john visited paris today ."
    spans = detector.detect(text)
    assert all(s.type in T.NAME_TYPES and text[s.start : s.end] == s.text for s in spans)
    # the artifact's labels (person, geo-loc, company) come back as cotune's types
    mapping = {"person": T.PERSON, "geo-loc": T.LOCATION, "company": T.ORG}
    raw = detector.ner.predictor.predict_text([text])[0]
    expected = [(mapping[e.label], e.start, e.end) for e in raw if e.label in mapping]
    assert [(s.type, s.start, s.end) for s in detector.ner.find(text)] == expected


# ------------------------------------------------------------------ dates of birth in context

# (sentence, the date of birth in it); written for these tests, not taken from the bench set.
BIRTH_DATES = [
    ("Applicant's DOB: 1979-11-04, nationality Irish.", "1979-11-04"),
    ("Date of birth 12/25/1968 was checked against the passport.", "12/25/1968"),
    ("Our grandmother was born on the 9th of August, 1931 in Cork.", "9th of August, 1931"),
    ("Birth date - 14.02.1990", "14.02.1990"),
    ("Kofi Mensah (b. 2 Feb 1961) chairs the board.", "2 Feb 1961"),
    ("He was born in Galway, Ireland, on June 5th 1972.", "June 5th 1972"),
    ("She was born to Mary and Ted in St. Ives on 4 July 1976.", "4 July 1976"),
    ("D.O.B. 07-Oct-88", "07-Oct-88"),
    ("Her birthday is 21 January 1994.", "21 January 1994"),
    ("Proof of age: 1999-07-30 (passport).", "1999-07-30"),
    ("Age verification for account 8812 - 30/06/2001", "30/06/2001"),
    ("11 May 1987 is his date of birth.", "11 May 1987"),
    ("Born: September 1966, Lagos.", "September 1966"),
    ("出生日期：1992年11月8日", "1992年11月8日"),
    ("王建国，男，1958年4月23日出生，汉族。", "1958年4月23日"),
    ("她生于2001.9.15，籍贯福建。", "2001.9.15"),
    ("李秀兰于1963年7月2日在上海出生。", "1963年7月2日"),
    ("出生年月：1988年6月", "1988年6月"),
    ("他的生日是一九七六年十月十九日。", "一九七六年十月十九日"),
    ("1999年12月31日是她的生日。", "1999年12月31日"),
    ("年龄验证：2003-02-14", "2003-02-14"),
    ("1971年3月9日生，中共党员。", "1971年3月9日"),
    ("Her birthday is on March 3rd, so order the cake early.", "March 3rd"),
    ("我的生日是5月20日。", "5月20日"),
]
# Dates that are not birth dates, often next to a birth word.
OTHER_DATES = [
    "The meeting on 3 March 2020 ran late.",
    "Born in Leeds, she joined the firm on 3 March 2020.",
    "Our founder, born and raised in Leeds, opened the shop on 4 April 2011.",
    "Place of birth: York, visit date 2021-05-06.",
    "The birth certificate was issued on 12 May 2015.",
    "She gave a talk on birth rates on 3 March 2020.",
    "DOB unknown; appointment on 2022-01-10.",
    "The age verification rule took effect on 1 May 2023.",
    "Order dated 03/04/21 shipped with 2 items.",
    "Happy birthday! The team lunch is on March 3rd.",
    "新规定自2024年7月1日生效。",
    "事故发生于2019年5月8日。",
    "这家公司诞生于2010年3月3日。",
    "她出生于成都，2015年6月1日入职。",
    "学生日程：2023年9月1日开学。",
    "生日聚会定于2024年5月20日举行。",
]


@pytest.mark.parametrize(("text", "value"), BIRTH_DATES)
def test_dates_of_birth_are_found_in_their_forms_and_cues(detector, text: str, value: str) -> None:
    assert [d.text for d in find_dates_of_birth(text)] == [value]
    assert (T.DOB, value) in [(s.type, s.text) for s in detector.detect(text)]


@pytest.mark.parametrize("text", OTHER_DATES)
def test_other_dates_are_not_dates_of_birth(detector, text: str) -> None:
    assert find_dates(text), "the sentence must hold a date for this test to mean anything"
    assert find_dates_of_birth(text) == []
    assert T.DOB not in {s.type for s in detector.detect(text)}


def test_a_birth_cue_claims_one_date_and_never_a_future_one() -> None:
    def dobs(text: str) -> list[str]:
        return [d.text for d in find_dates_of_birth(text, today=dt.date(2024, 1, 1))]

    assert dobs("Born 1 May 1900, died 3 June 1980 in Bath.") == ["1 May 1900"]
    assert dobs("1950年1月1日出生，2020年3月3日去世。") == ["1950年1月1日"]
    assert dobs("Dates of birth: Ana 1 May 2001, Ben 2 June 2003.") == ["1 May 2001", "2 June 2003"]
    assert dobs("The baby was born on 3 March 2025, we hope.") == []  # after `today`


def test_new_date_forms_keep_their_form_in_surrogates_and_pseudonyms() -> None:
    pz = Pseudonymizer({"*": "surrogate"})
    for original in ("一九七六年十月十九日", "07-Oct-88", "September 1966", "1988年6月", "5月20日"):
        fake = pz.replace(T.DOB, original)
        (before,), (after,) = find_dates(original), find_dates(fake)
        assert fake != original and after.groups.keys() == before.groups.keys(), fake
        assert after.precision == before.precision and after.key != before.key
        assert before.precision == "no-year" or after.date.year != before.date.year  # the age
    plain = Pseudonymizer()  # a month is not the first day of that month
    assert plain.replace(T.DOB, "March 1985") != plain.replace(T.DOB, "1 March 1985")
    assert plain.replace(T.DOB, "1985年3月") == plain.replace(T.DOB, "March 1985")
