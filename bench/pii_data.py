"""Generate cotune's labelled PII set: English and Chinese sentences, every PII span labelled.

Project-written synthetic data (no real people): sentences from templates with realistic fillers,
each PII span recorded with character offsets and its type, mixed with PII-free sentences that
carry look-alikes (order numbers, meeting dates, version strings, prices). Deterministic by seed.

Honesty rules, checked when the set is built:
- the person names here are not in the detector's first-name gazetteer nor in its surrogate lists
  (the detector must find them by structure, not by memory);
- identifiers are random but well-formed (Luhn-valid cards, mod-97 IBANs, GB 11643 IDs), since
  the real ones are; phone numbers follow real national formats but are not checked with
  `phonenumbers` here (that is what is being measured);
- some entities have no cue the heuristic can use (organisations without a suffix word, Chinese
  places without 市/省, dates of birth without a birth word) so the misses show in the numbers.

    python bench/pii_data.py                       # -> bench/data/pii_bench.jsonl
    python bench/pii_data.py --per-language 400 --seed 7 --out /tmp/pii.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cotune.privacy.deid import checks
from cotune.privacy.deid import lexicon as lx

EN_FIRST = [
    "Thandiwe",
    "Priyanka",
    "Oluwaseun",
    "Mateo",
    "Ingrid",
    "Kenji",
    "Leilani",
    "Ravi",
    "Siobhan",
    "Tobias",
    "Anouk",
    "Dmitri",
    "Camille",
    "Yusuf",
    "Astrid",
    "Rafael",
    "Nadia",
    "Corin",
    "Elspeth",
    "Bartholomew",
    "Wren",
    "Imogen",
    "Cosmo",
    "Saoirse",
    "Lachlan",
    "Marisol",
    "Femi",
    "Aurelio",
    "Greta",
    "Hamish",
    "Zainab",
    "Eero",
    "Lucinda",
    "Ottilie",
    "Caspian",
    "Ximena",
    "Ferdinand",
    "Aoife",
    "Benedikt",
    "Noor",
]
EN_LAST = [
    "Okafor",
    "Lindqvist",
    "Castellanos",
    "Whitcombe",
    "Nakamura",
    "Abernathy",
    "Petrov",
    "Delacroix",
    "Mbeki",
    "Fairweather",
    "Holloway",
    "Kowalczyk",
    "Ashdown",
    "Varga",
    "Quintero",
    "Brannigan",
    "Oyelaran",
    "Sorensen",
    "Trevelyan",
    "Achterberg",
    "Moreau",
    "Haldane",
    "Iwasaki",
    "Rasmussen",
    "Okonkwo",
    "Verhoeven",
    "Galloway",
    "Szabo",
    "Ferreira",
    "MacAulay",
]
EN_ORGS = [
    "Halvorsen Logistics", "Brightwater Analytics Ltd", "Meridian Health Partners",
    "Corvane Systems", "Tollbridge Insurance", "Sable & Finch LLP", "University of Eastmarch",
    "Bank of Carrowmore", "Westbury Clinic", "Pinecrest Academy", "Orland Biotech Inc.",
    "Greyhaven Capital", "Northgate Software", "Lumen Freight Corp.", "Ravensworth Foundation",
    # no suffix word: the heuristic has nothing to go on
    "Quillon", "Nordavia", "Zentrix", "Kaltura Blue",
]  # fmt: skip
EN_PLACES = [
    "Kellerton", "Ashbury Falls", "Port Evander", "Marlow Heath", "Dunhaven", "Eastmarch",
    "Brackenridge", "Winterbourne", "Saltcoats", "Glenrothes", "Lisbon", "Nairobi", "Osaka",
    "Winnipeg", "Adelaide", "Valparaiso", "14 Harlow Street", "Cedar Avenue", "Maple Drive",
]  # fmt: skip
EN_DOMAINS = ["gmail.com", "outlook.com", "proton.me", "yahoo.co.uk", "fastmail.fm", "corvane.io"]

CN_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董"
CN_GIVEN = [
    "子轩",
    "梓涵",
    "浩宇",
    "欣怡",
    "俊熙",
    "雨萱",
    "志强",
    "丽娟",
    "建华",
    "秀英",
    "国栋",
    "晓燕",
    "海峰",
    "婷婷",
    "文静",
    "宏伟",
    "淑芬",
    "永刚",
    "佳琪",
    "明轩",
    "静怡",
    "鹏飞",
    "桂兰",
    "德胜",
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "超",
]
CN_ORGS = [
    "华信科技有限公司", "远航物流集团", "星河网络科技有限公司", "金桥律师事务所", "南山人民医院",
    "东华大学", "青禾教育咨询有限公司", "云帆数据中心", "启明出版社", "长风证券股份有限公司",
    "博远建筑设计研究院", "海岳食品有限公司",
    # no suffix: missed by the heuristic
    "字节跳动", "美团", "蔚来",
]  # fmt: skip
CN_PLACES = [
    "四川省绵阳市", "江苏省苏州市", "湖北省宜昌市", "云南省大理市", "成都市武侯区", "杭州市西湖区",
    "广州市天河区", "济南市历下区", "建设路", "解放街", "青岛市", "洛阳市",
    # bare names, no suffix: missed by the heuristic
    "厦门", "桂林", "拉萨",
]  # fmt: skip
CN_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "aliyun.com"]
PINYIN = [
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "gao",
    "lin",
    "luo",
]

US_AREAS = ["212", "415", "646", "312", "617", "206", "303", "512", "718", "202"]
CN_MOBILE = [f"13{d}" for d in range(10)] + [
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "186",
    "187",
    "188",
    "189",
    "177",
    "199",
]
CN_REGIONS = ["510703", "320505", "420502", "532901", "510107", "330106", "440106", "370102"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _group(s: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i : i + n])
        i += n
    return sep.join(p for p in out if p)


class Fill:
    """Random fillers per type and language."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def PERSON(self, lang: str) -> str:
        r = self.rng
        if lang == "zh":
            return r.choice(CN_SURNAMES) + r.choice(CN_GIVEN)
        return f"{r.choice(EN_FIRST)} {r.choice(EN_LAST)}"

    def ORGANIZATION(self, lang: str) -> str:
        return self.rng.choice(CN_ORGS if lang == "zh" else EN_ORGS)

    def LOCATION(self, lang: str) -> str:
        return self.rng.choice(CN_PLACES if lang == "zh" else EN_PLACES)

    def EMAIL_ADDRESS(self, lang: str) -> str:
        r = self.rng
        if lang == "zh":
            local = (
                r.choice(PINYIN)
                + r.choice(["", ".", "_"])
                + r.choice(PINYIN)
                + _digits(r, r.randint(0, 4))
            )
            return f"{local}@{r.choice(CN_DOMAINS)}"
        local = f"{r.choice(EN_FIRST).lower()}{r.choice(['.', '_', ''])}{r.choice(EN_LAST).lower()}"
        return f"{local}{r.choice(['', str(r.randint(1, 99))])}@{r.choice(EN_DOMAINS)}"

    def PHONE_NUMBER(self, lang: str) -> str:
        r = self.rng
        mobile = r.choice(CN_MOBILE) + _digits(r, 8)
        options: list[Callable[[], str]] = [
            lambda: mobile,
            lambda: _group(mobile, [3, 4, 4], r.choice([" ", "-"])),
            lambda: "+86 " + _group(mobile, [3, 4, 4], " "),
            lambda: f"({r.choice(US_AREAS)}) {r.randint(200, 989)}-{_digits(r, 4)}",
            lambda: f"+1 {r.choice(US_AREAS)}-{r.randint(200, 989)}-{_digits(r, 4)}",
            lambda: f"{r.choice(US_AREAS)}.{r.randint(200, 989)}.{_digits(r, 4)}",
            lambda: f"+44 20 7{_digits(r, 3)} {_digits(r, 4)}",
            lambda: f"+49 30 {_digits(r, 8)}",
            lambda: f"+33 1 {_group(_digits(r, 8), [2, 2, 2, 2], ' ')}",
            lambda: f"+81 3-{_digits(r, 4)}-{_digits(r, 4)}",
        ]
        weights = [3, 3, 2, 1, 1, 1, 1, 1, 1, 1] if lang == "zh" else [1, 1, 1, 3, 2, 2, 2, 1, 1, 1]
        return r.choices(options, weights)[0]()

    def CREDIT_CARD(self, lang: str) -> str:
        r = self.rng
        kind = r.choice(["visa", "mc", "amex", "discover", "unionpay"])
        prefix, length = {
            "visa": ("4", 16), "mc": (f"5{r.randint(1, 5)}", 16),
            "amex": (r.choice(["34", "37"]), 15),
            "discover": ("6011", 16), "unionpay": ("62", r.choice([16, 19])),
        }[kind]  # fmt: skip
        body = prefix + _digits(r, length - len(prefix) - 1)
        number = body + checks.luhn_check_digit(body)
        sep = r.choice([" ", "-", ""])
        if kind == "amex":
            return _group(number, [4, 6, 5], sep)
        return _group(number, [4] * (length // 4) + [length % 4], sep)

    def IBAN_CODE(self, lang: str) -> str:
        r = self.rng
        country = r.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH"])
        n = checks.IBAN_LENGTHS[country] - 4
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if country in ("GB", "NL"):
            bban = "".join(r.choice(letters) for _ in range(4)) + _digits(r, n - 4)
        elif country == "IT":
            bban = r.choice(letters) + _digits(r, n - 1)
        else:
            bban = _digits(r, n)
        iban = country + checks.iban_check_digits(country, bban) + bban
        return _group(iban, [4] * 9, " ") if r.random() < 0.6 else iban

    def IP_ADDRESS(self, lang: str) -> str:
        r = self.rng
        if r.random() < 0.2:
            groups = [f"{r.randrange(65536):x}" for _ in range(8)]
            return ":".join(groups) if r.random() < 0.5 else f"2001:db8:{groups[2]}::{groups[7]}"
        first = r.choice([10, 172, 192, r.randint(11, 223)])
        return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randint(1, 254)}"

    def URL(self, lang: str) -> str:
        r = self.rng
        word = r.choice(
            ["meridian", "tollbridge", "kestrelbay", "shuju", "xinhe", "portal", "halvorsen"]
        )
        path = "/".join(
            r.choice(["docs", "account", "u", "files", "2024", "contract", "id"])
            for _ in range(r.randint(0, 2))
        )
        style = r.randrange(4)
        if style == 0:
            return f"https://www.{word}.com/{path}".rstrip("/")
        if style == 1:
            return f"http://{word}.org/{path}?ref={_digits(r, 4)}"
        if style == 2:
            return f"www.{word}.net/{path}".rstrip("/")
        return f"https://{word}.cn/{path}".rstrip("/")

    def US_SSN(self, lang: str) -> str:
        r = self.rng
        area = r.choice([a for a in range(1, 900) if a != 666])
        sep = r.choice(["-", "-", " "])
        return f"{area:03d}{sep}{r.randint(1, 99):02d}{sep}{r.randint(1, 9999):04d}"

    def CN_RESIDENT_ID(self, lang: str) -> str:
        r = self.rng
        born = dt.date(1950, 1, 1) + dt.timedelta(days=r.randrange(365 * 55))
        first17 = r.choice(CN_REGIONS) + born.strftime("%Y%m%d") + _digits(r, 3)
        return first17 + checks.cn_id_check_char(first17)

    def DATE_OF_BIRTH(self, lang: str) -> str:
        r = self.rng
        d = dt.date(1940, 1, 1) + dt.timedelta(days=r.randrange(365 * 65))
        if lang == "zh":
            return r.choice(
                [
                    f"{d.year}年{d.month}月{d.day}日",
                    f"{d.year}-{d.month:02d}-{d.day:02d}",
                    f"{d.year}年{d.month:02d}月{d.day:02d}日",
                ]
            )
        return r.choice([
            d.strftime("%B ") + f"{d.day}, {d.year}", f"{d.day} " + d.strftime("%B %Y"),
            d.strftime("%m/%d/%Y"), d.isoformat(), d.strftime("%b. ") + f"{d.day}, {d.year}",
        ])  # fmt: skip


EN_TEMPLATES = [
    "Please contact {PERSON} at {EMAIL_ADDRESS} or {PHONE_NUMBER}.",
    "{PERSON} was born on {DATE_OF_BIRTH} in {LOCATION}.",
    "My card number is {CREDIT_CARD}, it expires next year.",
    "Wire the refund to IBAN {IBAN_CODE} by Friday.",
    "The failed login came from {IP_ADDRESS} at 3:14 am.",
    "See {URL} for the signed contract.",
    "Her social security number is {US_SSN}.",
    "{PERSON} works at {ORGANIZATION} in {LOCATION}.",
    "Date of birth: {DATE_OF_BIRTH}; passport holder {PERSON}.",
    "Invoice for {PERSON}, {ORGANIZATION}, phone {PHONE_NUMBER}.",
    "Send the files to {EMAIL_ADDRESS} before the audit.",
    "Dr. {PERSON} from {ORGANIZATION} will call you on {PHONE_NUMBER}.",
    "Customer {PERSON} (DOB {DATE_OF_BIRTH}) moved to {LOCATION}.",
    "We blocked traffic from {IP_ADDRESS} and {IP_ADDRESS} overnight.",
    "Account holder: {PERSON}, IBAN: {IBAN_CODE}.",
    "{PERSON} moved from {LOCATION} to {LOCATION} last year.",
    "The patient, {PERSON}, born {DATE_OF_BIRTH}, was referred by {ORGANIZATION}.",
    "Charge {CREDIT_CARD} for the order and email the receipt to {EMAIL_ADDRESS}.",
    "I met {PERSON} and {PERSON} at the {ORGANIZATION} conference.",
    "The form at {URL} asks for your SSN ({US_SSN}) and phone ({PHONE_NUMBER}).",
    "Chinese resident ID {CN_RESIDENT_ID} belongs to the applicant {PERSON}.",
    "Thanks, {PERSON}. Your new account at {ORGANIZATION} is ready.",
    "Ms. {PERSON} asked us to update her card to {CREDIT_CARD}.",
    "Server {IP_ADDRESS} hosts {URL} for the team in {LOCATION}.",
    "Age check passed for {PERSON}: {DATE_OF_BIRTH}.",  # no birth word, only an age-check label
    "Reach the {ORGANIZATION} office in {LOCATION} at {PHONE_NUMBER}.",
    "Employee record: {PERSON}, SSN {US_SSN}, email {EMAIL_ADDRESS}.",
]
ZH_TEMPLATES = [
    "请联系{PERSON}，电话{PHONE_NUMBER}，邮箱{EMAIL_ADDRESS}。",
    "{PERSON}出生于{DATE_OF_BIRTH}，身份证号码是{CN_RESIDENT_ID}。",
    "我叫{PERSON}，住在{LOCATION}。",
    "{PERSON}在{ORGANIZATION}工作。",
    "客户{PERSON}的银行卡号为{CREDIT_CARD}。",
    "请将款项汇入账户{IBAN_CODE}。",
    "本次登录IP为{IP_ADDRESS}，如非本人操作请修改密码。",
    "详情请访问{URL}。",
    "患者{PERSON}，出生日期：{DATE_OF_BIRTH}，联系电话：{PHONE_NUMBER}。",
    "{ORGANIZATION}位于{LOCATION}。",
    "她的手机号是{PHONE_NUMBER}，微信同号。",
    "{PERSON}和{PERSON}昨天去了{LOCATION}。",
    "美国客户的社会安全号码是{US_SSN}。",
    "收件人：{PERSON}，地址：{LOCATION}，电话：{PHONE_NUMBER}",
    "{PERSON}先生的邮箱是{EMAIL_ADDRESS}。",
    "我们从{ORGANIZATION}收到了{PERSON}的简历。",
    "订单由{PERSON}提交，付款卡号{CREDIT_CARD}。",
    "身份证：{CN_RESIDENT_ID}，姓名：{PERSON}。",
    "服务器{IP_ADDRESS}上的页面{URL}已经下线。",
    "{PERSON}女士的生日是{DATE_OF_BIRTH}。",
    "年龄核验：{DATE_OF_BIRTH}。",  # no birth word, only an age-check label
    "{PERSON}从{LOCATION}调到了{ORGANIZATION}。",
    "退款将转入{PERSON}的账户{IBAN_CODE}。",
    "如有疑问，请发邮件至{EMAIL_ADDRESS}或拨打{PHONE_NUMBER}。",
]
EN_CLEAN = [
    "Order 48213 shipped on 2023-04-12 and should arrive within five days.",
    "The meeting moved to 3:30 pm on Friday.",
    "Version 2.4.1 fixes the login bug on older phones.",
    "Revenue grew 12% to 4,500,000 dollars in the second quarter.",
    "Please restart the server after the update finishes.",
    "The quarterly report is due on March 31, 2024.",
    "We sold 15000 units last year, up from 9800.",
    "Room 1203 on floor 12 is free this afternoon.",
    "The train leaves at 07:45 and takes about two hours.",
    "Set the timeout to 300 seconds and retry three times.",
    "Our support team answers tickets within 24 hours.",
    "The recipe needs 250 grams of flour and two eggs.",
    "Backups run nightly and are kept for 30 days.",
    "Tickets cost 45 euros, or 30 with a student card.",
    "The new policy takes effect on 1 July 2024.",
    "Temperature readings stayed between 18 and 22 degrees.",
    "Press the reset button for ten seconds to restore defaults.",
    "Item code 7731-220 is out of stock until next month.",
    "The library opens at nine and closes at six.",
    "Batch size 32 and learning rate 0.0003 worked best.",
]
ZH_CLEAN = [
    "会议改到下周三下午三点。",
    "订单号为20230412001，已于4月12日发货。",
    "今天天气很好，我们去公园散步。",
    "这家餐厅的菜很好吃，价格也不贵。",
    "新版本修复了登录时的闪退问题。",
    "第二季度营收增长了百分之十二。",
    "请在系统更新完成后重启服务器。",
    "报告的截止日期是2024年3月31日。",
    "去年我们一共卖出了一万五千台。",
    "火车七点四十五分出发，大约两个小时到达。",
    "客服会在二十四小时内回复工单。",
    "这本书很有意思，推荐大家阅读。",
    "备份每天晚上进行，保留三十天。",
    "门票四十五元，学生半价。",
    "新规定将于2024年7月1日起施行。",
    "孩子们在操场上踢足球。",
    "周末我们打算一起去爬山。",
    "请把文件按时间顺序整理好。",
    "物品编号7731-220暂时缺货。",
    "图书馆早上九点开门，晚上六点关门。",
]

_SLOT = re.compile(r"\{([A-Z_]+)\}")
# Spans with no cue the model-free detector can use, marked "hard" (reported separately).
HARD_TEMPLATES = {t for t in EN_TEMPLATES + ZH_TEMPLATES if "Age check" in t or "年龄核验" in t}
HARD_FILLERS = set(EN_ORGS[-4:] + CN_ORGS[-3:] + CN_PLACES[-3:])


def render(template: str, fill: Fill, lang: str) -> dict[str, object]:
    text, spans, pos = "", [], 0
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()]
        value = getattr(fill, m.group(1))(lang)
        hard = value in HARD_FILLERS or (
            m.group(1) == "DATE_OF_BIRTH" and template in HARD_TEMPLATES
        )
        span = {"start": len(text), "end": len(text) + len(value), "type": m.group(1)}
        spans.append({**span, "hard": True} if hard else span)
        text += value
        pos = m.end()
    text += template[pos:]
    return {"lang": lang, "text": text, "spans": spans}


def check_honesty() -> None:
    """Bench names must not be the detector's own lists."""
    clash = {n.lower() for n in EN_FIRST} & (
        lx.EN_FIRST_NAMES | {n.lower() for n in lx.SURROGATE_EN_FIRST}
    )
    clash |= {n.lower() for n in EN_LAST} & {n.lower() for n in lx.SURROGATE_EN_LAST}
    clash |= set(CN_ORGS) & set(lx.SURROGATE_CN_ORGS)
    clash |= set(CN_PLACES) & set(lx.SURROGATE_CN_PLACES)
    assert not clash, f"bench fillers overlap the detector's lists: {sorted(clash)}"


def generate(
    per_language: int = 400, seed: int = 0, clean_share: float = 0.25
) -> list[dict[str, object]]:
    check_honesty()
    rng = random.Random(seed)
    fill = Fill(rng)
    rows: list[dict[str, object]] = []
    for lang, templates, clean in (("en", EN_TEMPLATES, EN_CLEAN), ("zh", ZH_TEMPLATES, ZH_CLEAN)):
        n_clean = int(per_language * clean_share)
        for k in range(per_language - n_clean):
            rows.append(render(templates[k % len(templates)], fill, lang))
        joiner = "" if lang == "zh" else " "
        for k in range(n_clean):  # each clean sentence alone, then in pairs
            text = clean[k % len(clean)]
            if k >= len(clean):
                text += joiner + clean[(k * 7 + 3) % len(clean)]
            rows.append({"lang": lang, "text": text, "spans": []})
    rng.shuffle(rows)
    for k, row in enumerate(rows):
        row["id"] = k
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "pii_bench.jsonl")
    args = ap.parse_args()
    rows = generate(args.per_language, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    counts = Counter(f"{r['lang']}:{s['type']}" for r in rows for s in r["spans"])  # type: ignore[attr-defined]
    print(f"{len(rows)} sentences -> {args.out}")
    print(json.dumps(dict(sorted(counts.items())), indent=1))


if __name__ == "__main__":
    main()
