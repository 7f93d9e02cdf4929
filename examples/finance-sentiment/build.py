"""Builds cotune's own small financial-news sentiment set (written for this project, not taken
from any corpus): hand-written event clauses (negative / neutral / positive), in English and
Chinese, set into hand-written headline frames with fictional company names.

The split is by clause: no clause of the test file appears in the training file, so a model
cannot pass the test by remembering a phrase it was trained on. Deterministic (seed 23).

    .venv/bin/python examples/finance-sentiment/build.py   # writes train.jsonl, test.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

COMPANIES = [
    "Northwind Bank",
    "Acme Holdings",
    "Bluewater Energy",
    "Crestline Motors",
    "Harbor Insurance",
    "Pinecrest Capital",
    "Orion Semiconductors",
    "Maple Retail Group",
    "Silverline Airlines",
    "Redstone Mining",
    "Lakeside Pharma",
    "Summit Telecom",
    "Ironbridge Steel",
    "Goldleaf Foods",
    "Vertex Software",
    "Eastgate Properties",
    "Kestrel Logistics",
    "Brightpath Payments",
]
FRAMES = [
    "{c} {x}.",
    "{c} said it {x}.",
    "Shares moved after {c} {x}.",
    "Report: {c} {x}.",
    "Analysts note that {c} {x}.",
]

NEGATIVE = [
    "cut its full-year profit forecast",
    "missed quarterly earnings estimates by a wide margin",
    "warned of a sharp drop in revenue",
    "is under investigation for accounting irregularities",
    "suspended its dividend",
    "announced 4,000 job cuts amid falling demand",
    "was downgraded to junk by a major rating agency",
    "reported a record quarterly loss",
    "faces a multibillion-dollar fraud lawsuit",
    "breached the covenants on its loans",
    "filed for bankruptcy protection",
    "recalled 200,000 vehicles over a safety defect",
    "lost its chief executive in a sudden resignation",
    "saw its shares plunge 30 percent",
    "was fined by regulators for misleading customers",
    "disclosed a major data breach",
    "delayed its annual report, raising audit concerns",
    "wrote down the value of its assets",
    "lost a key contract to a rival",
    "reported that loan defaults doubled",
    "halted production after a fire at its main plant",
    "is struggling to refinance its debt",
    "had its credit outlook cut to negative",
    "posted weaker margins as costs soared",
    "was hit by a wave of customer withdrawals",
    "abandoned its merger after regulators objected",
    "reported a steep fall in orders",
    "was accused of market manipulation",
    "issued a profit warning for the second time this year",
    "saw its bonds sell off sharply",
    "closed dozens of branches as losses mounted",
    "failed a regulatory stress test",
    "faces strikes that shut its factories",
    "lost market share for a fifth straight quarter",
    "was forced to raise emergency capital at a deep discount",
    "admitted its flagship product has a serious flaw",
]
POSITIVE = [
    "raised its full-year profit forecast",
    "beat quarterly earnings estimates",
    "reported record revenue",
    "announced a larger dividend",
    "won a major government contract",
    "was upgraded by a leading rating agency",
    "launched a share buyback programme",
    "posted strong growth in new customers",
    "cut its debt well ahead of schedule",
    "saw its shares jump 15 percent",
    "secured regulatory approval for its new drug",
    "reported higher margins as costs fell",
    "agreed a lucrative partnership with a global leader",
    "returned to profit after two difficult years",
    "expanded into three new markets",
    "reported surging demand for its products",
    "raised its long-term growth targets",
    "received a takeover offer at a hefty premium",
    "hired an acclaimed new chief executive",
    "reported a sharp rise in bookings",
    "improved its credit rating outlook to positive",
    "delivered its best quarter in a decade",
    "beat analysts' revenue expectations",
    "won a landmark patent case",
    "opened a new plant that doubles capacity",
    "saw strong inflows into its funds",
    "posted double-digit sales growth",
    "settled its legal dispute on favourable terms",
    "reported robust cash flow",
    "lifted its outlook on strong consumer spending",
    "gained market share in every region",
    "successfully completed its merger",
    "reported lower loan losses than expected",
    "attracted record investment from pension funds",
    "announced a special dividend",
    "saw its order book reach an all-time high",
]
NEUTRAL = [
    "will publish its quarterly results on Thursday",
    "appointed a new chief financial officer",
    "held its annual general meeting",
    "moved its headquarters to a new building",
    "reported results in line with expectations",
    "confirmed the date of its investor day",
    "said its outlook is unchanged",
    "renamed its consumer division",
    "completed a previously announced bond issue",
    "published its annual sustainability report",
    "kept its dividend unchanged",
    "will present at an industry conference next week",
    "named two new board members",
    "said trading was steady in the first quarter",
    "updated its accounting policies",
    "plans to list additional shares next month",
    "reorganised its reporting segments",
    "extended its current credit facility",
    "reported flat revenue compared with last year",
    "said it is reviewing its options",
    "launched a new version of its website",
    "held talks with union representatives",
    "maintained its guidance for the year",
    "opened a small office in Singapore",
]

COMPANIES_ZH = [
    "华信银行",
    "东方能源",
    "长江汽车",
    "海通保险",
    "星河科技",
    "金鼎矿业",
    "恒丰零售",
    "蓝天航空",
]
FRAMES_ZH = ["{c}{x}。", "消息称，{c}{x}。", "{c}公告：公司{x}。"]
NEGATIVE_ZH = [
    "下调全年利润预期",
    "季度亏损创历史新高",
    "因财务造假被立案调查",
    "宣布裁员三千人",
    "股价暴跌百分之三十",
    "债务违约风险上升",
    "被评级机构下调评级",
    "暂停派发股息",
    "申请破产保护",
    "主要工厂因火灾停产",
    "被监管部门处以巨额罚款",
    "营业收入大幅下滑",
    "发生严重数据泄露",
    "遭遇大规模客户投诉",
]
POSITIVE_ZH = [
    "上调全年利润预期",
    "季度利润超出市场预期",
    "营业收入创历史新高",
    "宣布提高股息",
    "获得政府大额订单",
    "被评级机构上调评级",
    "启动股票回购计划",
    "新产品销量大增",
    "提前偿还全部债务",
    "股价大涨百分之十五",
    "新药获得监管批准",
    "市场份额持续扩大",
    "扭亏为盈",
    "订单量创新高",
]
NEUTRAL_ZH = [
    "将于周四发布季度报告",
    "任命新的首席财务官",
    "召开年度股东大会",
    "维持全年业绩指引不变",
    "公司总部迁往新址",
    "发布年度社会责任报告",
    "董事会新增两名成员",
    "业绩与市场预期一致",
]


def build(seed: int = 23) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    train: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    groups = [
        ("en", COMPANIES, FRAMES, NEGATIVE, "negative", 3),
        ("en", COMPANIES, FRAMES, POSITIVE, "positive", 3),
        ("en", COMPANIES, FRAMES, NEUTRAL, "neutral", 3),
        ("zh", COMPANIES_ZH, FRAMES_ZH, NEGATIVE_ZH, "negative", 3),
        ("zh", COMPANIES_ZH, FRAMES_ZH, POSITIVE_ZH, "positive", 3),
        ("zh", COMPANIES_ZH, FRAMES_ZH, NEUTRAL_ZH, "neutral", 3),
    ]
    for lang, companies, frames, clauses, label, per_clause in groups:
        order = clauses[:]
        rng.shuffle(order)
        cut = round(len(order) * 0.7)
        for i, clause in enumerate(order):
            for frame in rng.sample(frames, per_clause):
                text = frame.format(c=rng.choice(companies), x=clause)
                row = {"text": text[0].upper() + text[1:], "label": label, "lang": lang}
                (train if i < cut else test).append(row)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def main() -> None:
    train, test = build()
    for name, rows in (("train", train), ("test", test)):
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
