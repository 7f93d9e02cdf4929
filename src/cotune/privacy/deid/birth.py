"""Which dates are dates of birth.

A date is only a date of birth in context: meetings, invoices and policies carry dates too, and
those are not PII on their own. A date counts when a birth cue claims it:

- a cue before it (born, date of birth, DOB, birthday, b.; 出生, 出生日期, 生日, 生于, 诞辰) with
  nothing between them that starts another clause or names another event: in "born in Leeds,
  she joined us on 3 March 2020" the date is a joining date;
- a cue right after it: 1985年3月3日出生 / 生 / 生人, 于1985年3月3日在北京出生, 3 March 1985
  (born), ... is her birthday, ……是他的生日;
- an age-verification label (age check, proof of age, 年龄核验) then a separator (":", "：") and
  the date: age checks are made on a date of birth.

Each cue claims one date, the nearest it reaches, so in "born 1 May 1900, died 3 June 1980" only
the first is a birth date (plural cues such as "dates of birth" may claim several). A date in the
future is never a birth date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cotune.privacy.deid.dates import DateMatch, find_dates

_EN_CUE = re.compile(
    r"(?<![A-Za-z])(?:"
    r"(?P<plural>dates\s+of\s+birth|birth\s*-?\s*dates|birthdays|d\.?o\.?b\.?s)"
    r"|(?P<age>age\s+(?:check|verification|verified|confirmation|confirmed|proof|gate)"
    r"|proof\s+of\s+age|verif(?:y|ied|ying)\s+(?:(?:his|her|their|your|my|the)\s+)?age)"
    r"|(?P<tight>b\.)"  # "b. 3 May 1985": only right before a date
    r"|(?P<birth>date\s+of\s+birth|birth\s*-?\s*date|birthday|d\.?o\.?b\.?|born|birth)"
    r")(?![A-Za-z])",
    re.I,
)
# "birth" that is about something else than the date: birth place, birth certificate, ...
_NOT_BIRTH_AFTER = re.compile(
    r"\s*(?:place|certificate|cert|rate|weight|name|order|control|country|city|town|mother"
    r"|father|parent)s?(?![A-Za-z])",
    re.I,
)
_NOT_BIRTH_BEFORE = re.compile(r"(?:place|country|city|town|county|state)\s+of\s+$", re.I)

# 学生日程, 卫生日, 发生于, 产生于 contain 生日 / 生于 but say nothing about birth; 出生地 (birth
# place), 出生证 (certificate) and 出生率 (birth rate) are not dates of birth either. 诞生于 opens
# company histories as often as life stories, so only "……诞生" after a date counts.
_ZH_CUE = re.compile(
    r"(?P<age>年龄(?:核验|核实|验证|认证|确认|审核|检查)|(?:核验|核实|验证|确认)年龄)"
    r"|(?P<birth>出生(?:日期|年月日?|时间|于|在)?(?![地证率])|(?<![学卫医先考新师民众])生日"
    r"|(?<![发产滋衍派寄共再重诞])生于|诞辰|生辰)"
)

_EN_AFTER = re.compile(
    r"\s*(?:\(\s*(?:born|birth|b\.|d\.?o\.?b\.?|date\s+of\s+birth|birth\s*-?\s*date|birthday)\s*\)"
    r"|(?:is|was)\s+(?:(?:his|her|their|my|your|our|the\s+\w+'s|\w+'s)\s+)?"
    r"(?:date\s+of\s+birth|birth\s*-?\s*date|birthday|dob)(?![A-Za-z]))",
    re.I,
)
# 生 alone only where nothing makes it another word (生效 takes effect, 生产 production).
_ZH_AFTER = re.compile(
    r"\s*(?:(?:在[^\s，。；,;！？]{1,12}?)?(?:出生|诞生)(?![地证率])"
    r"|生(?=$|[\s，。；、,;)）人于在])"
    r"|是(?:[他她我你您其]的?)?(?:生日|出生日期))"
)

# Words that give a date another meaning: in the gap between a cue and a date they win.
_EN_OTHER_EVENT = re.compile(
    r"(?<![A-Za-z])(?:meet(?:ing)?s?|met|appointments?|visit(?:ed|s)?|admi(?:tted|ssion)"
    r"|discharged?|joined|hired|start(?:ed|s)?|began|married|wedding|died|death|deceased"
    r"|passed\s+away|expir(?:es|ed|y|ation)|issued?|signed|due|deadline|invoiced?|order(?:ed)?"
    r"|shipped|delivered|effective|moved|arrived|graduated|enrolled|registered|scheduled|booked"
    r"|updated|created|modified|dated|interview(?:ed)?|surgery|operation|vaccinated|tested"
    r"|exam(?:ination)?|released|paid|payment|party|retired|resigned|renewed|reported|filed"
    r"|submitted|received|expected|introduced|launched|added)(?![A-Za-z])",
    re.I,
)
_ZH_OTHER_EVENT = re.compile(
    r"入职|加入|开会|会议|到期|截止|签订|签署|签发|发货|生效|施行|实施|毕业|结婚|去世|逝世|死亡"
    r"|病故|入院|出院|就诊|预约|注册|登记|入学|退休|离职|成立|发布|更新|创建|到达|抵达|调到|调入"
    r"|办理|领取|缴费|付款|举行|召开|聚会|派对"
)
# A new clause: "born in Leeds and moved ...", "... but she ...".
_EN_NEW_CLAUSE = re.compile(
    r"(?<![A-Za-z])(?:and|but|then|who|which|while|until|since)\s+"
    r"(?:he|she|they|we|i|you|it|his|her|their|(?-i:[a-z]+ed))(?![A-Za-z])",  # not "and Ted"
    re.I,
)
# After the last comma or line break between cue and date, only these words may stand
# ("born in Leeds, England, on 3 March 1985").
_EN_CONNECTIVES = frozenset([
    "on", "in", "at", "the", "of", "is", "was", "as", "a", "an", "around", "about", "circa", "c",
    "approx", "approximately", "date", "day", "dd", "mm", "yyyy", "yy", "am", "pm",
])  # fmt: skip
_ZH_GAP = re.compile(
    r"(?:[\s:：=＝（）()\[\]【】/\-]|是|为|於|于|在|即|约|通过|结果|信息|公历|农历|阳历|公元"
    r"|年月日|日期)*"
)
_ABBREVIATIONS = frozenset(
    ["st", "dr", "mr", "mrs", "ms", "mt", "jr", "sr", "no", "vs", "approx", "dob"]
)
_LABEL = re.compile(r"[:：=]|\s[-–—]\s")


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    kind: str  # birth, plural, age or tight
    zh: bool


def _cues(text: str) -> list[_Cue]:
    out = []
    for m in _EN_CUE.finditer(text):
        kind = m.lastgroup or "birth"
        about_something_else = _NOT_BIRTH_AFTER.match(text, m.end()) or _NOT_BIRTH_BEFORE.search(
            text[max(0, m.start() - 20) : m.start()]
        )
        if kind == "birth" and m.group(0).lower() == "birth" and about_something_else:
            continue
        out.append(_Cue(m.start(), m.end(), kind, zh=False))
    out += [
        _Cue(m.start(), m.end(), m.lastgroup or "birth", zh=True) for m in _ZH_CUE.finditer(text)
    ]
    return sorted(out, key=lambda c: c.start)


def _sentence_break(span: str) -> bool:
    """A sentence ends inside `span`; "St. Ives", "J. Smith", "D.O.B. 3 May" do not end one."""
    if re.search(r"[;。！？；]|[!?]\s", span):
        return True
    for m in re.finditer(r"\.\s+(?=[A-Z])", span):
        word = re.search(r"([A-Za-z]+)$", span[: m.start()])
        if not word or (len(word.group(1)) > 1 and word.group(1).lower() not in _ABBREVIATIONS):
            return True
    return False


def _en_tail_ok(gap: str) -> bool:
    """Within one clause anything may stand between cue and date ("born in Leeds on"); past a
    comma or line break only connectives, else the date belongs to the next clause."""
    parts = re.split(r"[,\n]", gap)
    return len(parts) == 1 or all(
        w.lower() in _EN_CONNECTIVES for w in re.findall(r"[A-Za-z]+", parts[-1])
    )


def _reaches(text: str, cue: _Cue, date: DateMatch, window: int) -> bool:
    """Does `cue` claim `date` (the gap between them keeps them in one statement)?"""
    gap = text[cue.end : date.start]
    if cue.kind == "tight":
        return len(gap) <= 2 and not gap.strip()
    if len(gap) > (2 * window if cue.kind == "plural" else window):
        return False
    if _sentence_break(text[cue.start : date.start]) or _EN_OTHER_EVENT.search(gap):
        return False
    if _ZH_OTHER_EVENT.search(gap) or _EN_NEW_CLAUSE.search(gap):
        return False
    if cue.kind == "age":  # a label: "Age check passed for Ann Lee: 1985-03-03"
        label = list(_LABEL.finditer(gap))
        if not label:
            return False
        gap = gap[label[-1].end() :]
    if cue.zh:
        after = re.split(r"[，。；！？,;\n]", text[date.end : date.end + 8])[0]
        return _ZH_GAP.fullmatch(gap) is not None and not _ZH_OTHER_EVENT.search(after)
    return cue.kind == "plural" or _en_tail_ok(gap)


def find_dates_of_birth(
    text: str, window: int = 40, today: dt.date | None = None
) -> list[DateMatch]:
    """The dates in `text` that a birth cue claims (see the module docstring).

    `window`: the most characters between a cue and the date it claims (twice that for a plural
    cue); `today`: dates after it are not birth dates (default: the real today)."""
    today = today or dt.date.today()
    dates = [d for d in find_dates(text) if d.date <= today]
    claimed: set[int] = set()
    consumed: list[tuple[int, int]] = []  # cues already spent on the date before them
    for k, d in enumerate(dates):
        after = _EN_AFTER.match(text, d.end) or _ZH_AFTER.match(text, d.end)
        if after:
            claimed.add(k)
            consumed.append(after.span())
    for cue in _cues(text):
        if any(s <= cue.start < e for s, e in consumed) or any(
            d.start < cue.end and cue.start < d.end for d in dates
        ):
            continue
        for k, d in enumerate(dates):
            if d.start < cue.end:
                continue
            if not _reaches(text, cue, d, window):
                break
            claimed.add(k)
            if cue.kind != "plural":
                break
    return [dates[k] for k in sorted(claimed)]
