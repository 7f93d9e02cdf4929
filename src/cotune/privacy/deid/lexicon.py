"""Word lists behind the model-free name recogniser and the surrogate generator.

Kept small on purpose: the heuristic leans on structure (capitalisation, titles, organisation and
place suffixes, Chinese surnames) rather than on memorising names, so it generalises to names it
has never seen. The bench (bench/pii_data.py) draws its names from lists disjoint from these.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    """A word list written as whitespace-separated text (long lists stay readable)."""
    return frozenset(text.split())


EN_TITLES = _words(
    "mr mrs ms miss mx dr prof professor sir madam dame lord lady rev judge officer "
    "captain sergeant nurse"
)

# A few common given names, so a lone first name ("ask Mary") is still found.
EN_FIRST_NAMES = _words(
    """james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald
    edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon
    benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron henry
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
    margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah
    stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma
    nicole helen samantha katherine christine debra rachel carolyn janet catherine maria heather
    diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith"""
)

# Capitalised words that start sentences or stand in titles but are not names.
EN_NOT_NAMES = _words(
    """a an the this that these those there here it its i i'm i've we our us you your he his him
    she her they them their my me mine what which who whom whose when where why how if then else
    and or but so because as at by for from in into of on onto to with without within about above
    after before below between during under over through please thanks thank hello hi dear yes no
    not all any each every some many much more most other another such same both either neither
    monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december today tomorrow yesterday tonight
    email e-mail phone tel mobile call contact address card iban ip ssn id dob date birth born url
    website web site account number name note notes meeting report project team update invoice
    customer client patient user admin manager director ceo cto hr it ok okay new old next last
    first second third also just only still even however therefore meanwhile although though
    while since until unless whether our let lets send sent see visit check our his hers ours
    english chinese american british european asian african"""
)

EN_ORG_SUFFIXES = _words(
    """inc inc. incorporated ltd ltd. limited llc llp plc corp corp. corporation co co. company
    group bank university college institute foundation hospital clinic technologies technology
    systems solutions labs laboratories partners holdings associates agency ministry council
    society association airlines airways motors pharmaceuticals pharma insurance capital ventures
    media studios consulting logistics networks software electronics trust fund school academy
    center centre department bureau commission authority industries enterprises analytics
    robotics biotech energy securities gmbh ag sa"""
)
EN_ORG_HEADS = _words("university bank ministry department bureau college institute")

EN_LOCATION_SUFFIXES = _words(
    """street st st. avenue ave ave. road rd rd. boulevard blvd lane drive way court square place
    city county province state district river lake mountain mountains island islands bay valley
    heights springs falls harbor harbour beach village town borough"""
)
EN_LOCATION_CUES = _words(
    "in at from to near toward towards across visiting visited outside inside around"
)
EN_ORG_CUES = _words("works employed joined hired left founded")

# The most frequent Chinese surnames (about 200), minus rare ones that are also everyday words
# (和, 都, 由, 时 ...): those cost more false alarms than the few names they would find.
CN_SURNAMES = _words(
    """余 任 龙 史 齐 文 常 易 安 万 关
    王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁
    谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 董 袁 潘 蒋 蔡 杜 叶 程 苏 魏
    吕 丁 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 邹
    孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 陶 黎 贺 顾 毛 郝 龚 邵 钱 严 覃
    武 戴 莫 孔 汤 温 康 施 牛 樊 葛 邢 乔 伍 庞 颜 倪 庄 聂 章 鲁 岳
    翟 殷 詹 欧 耿 兰 焦 俞 左 柳 甘 祝 宁 符 舒 阮 柯 纪 梅 童 凌 毕
    季 裴 霍 涂 苗 翁 冉 骆 蓝 辛 靳 管 柴 蒙 鲍 华 喻 祁 蒲 房 滕 屈
    饶 牟 艾 尤 穆 卓 吉 缪 芦 麦 褚 娄 窦 戚 岑 景 党 宫 费 卜 冷 晏
    席 卫 米 柏 宗 瞿 桂 佟 臧 闵 苟 邬 卞 姬 仇 栾 隋 刁 巫 寇 桑 郎
    甄 丛 仲 虞 敖 巩 佘 池 苑 邝 匡 鞠 荆 冀 郁 胥 栗 燕 楚 鄢 劳 谌
    奚 粟 冼 蔺 厉 伊 仝 郜 阚 朴 廉 禹 漆 卿 狄 晋 扈 晁 芮 阙 浦 戈
    鹿 邸 雍 辜 裘 亓 邰 赫 杭 逯 茹 慕 嵇 湛 戎 勾 檀 昝 尧"""
)
CN_COMPOUND_SURNAMES = _words(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤 南宫 西门"
)
# Two-character words that begin with a surname character but are ordinary vocabulary.
CN_COMMON_WORDS = _words(
    """高铁 高考 黄河 长江 王者
    周末 周围 周年 周期 马上 马路 方法 方面 方向 方便 方案 方式 高兴 高速 高级
    高中 高度 高温
    黄色 黄金 金融 金额 金色 文化 文件 文章 文字 文明 明天 明白 明确 明显 明年
    常常 常见 于是
    白天 白色 万一 安全 安排 安静 石油 时间 时候 时代 任务 任何 和平 平时 平安
    成功 成为 成绩
    成本 何时 向前 包括 关于 关系 关注 关键 张开 王国 钱包 程序 温度 温暖 路上
    路线 全部 全国
    全面 原因 原来 元旦 谢谢 许多 许可 余额 单位 单独 管理 代表 车辆 车站 房间
    房子 景色 计划
    连续 连接 江南 海外 海边 国家 国际 国内 华人 司机 古代 严重 严格 范围 康复
    施工 牛奶 陆续
    公司 公园 公开 公共 公里 利用 利益 信息 信用 展示 展开 智能 富有 幸福 初步
    门口 云端 容易
    来自 来到 都是 普通 相关 相信 花园 强调 强大 权利 海洋 楼上 满意 位于 乐观
    南方 原则 应该
    应用 和谐 师傅 商品 商店 沙发 荣誉 郎中 明星 易于 卫生 米饭 宗教 景区 党员
    费用 冷静 席位
    申请 关闭 晋升 宣传 修改 修复 印象 银行 银色 居民 居住 斯坦 元素 束缚 信任
    信号 展览 衡量
    夏天 秋天 春天 冬天 东西 东方 上官 上午 上班 下午 司法 龙头 齐全 汤圆 游戏
    游泳 辛苦 简单
    车间 项目 连忙 麦当 戚戚 景点 宫殿 卜算 米线 柏林 全体 应对 边境 师生 和好
    商量 沙漠 桑拿
    甄别 仲裁 虞美 明确 池塘 查询 查看 麻烦 迟到 官方 封面 谈话 乐意 郁闷 南京
    班级 储存 原始
    燕子 楚楚 劳动 皮肤 楼下 满足 位置 伊始 区域 海关 花费 权限 强烈 屠宰 盖章
    练习 廉价 井水
    祖国 巴士 丰富 支付 支持 国庆 平台 计算 索取 宣布 相比 初中 门诊 云南 容量
    敬请 来说 都市
    普及 浦东 伏天 鹿角 薄荷 雍容 羊肉 阿姨 乌云 修理 赫然 杭州 况且 那么 那里
    那些 宿舍 鲜花
    印刷 隆重 诸位 战争 慕名 危险 玉米 公民 哈哈 宾馆 茅台 利润 呼吸 居然 干净
    但是 斯文 元宵
    信件 展会 智慧 幸运 植物 衡山 富裕 由于 时时 向往 任职 常用 顾客 毛病 史料
    路过 胡同 朱红
    高手 马克 叶子 程度 苏醒 江苏 石头 黎明 雷达 童年 梅花 成员 季度 管家 武汉
    温州 康乐 文档
    戴上 明日 安徽 白云 贺卡 龙虾 余地 杜绝 韩国 曹操 于今 宁愿 宁波 包装 包含
    尚未 单据 方才
    江西 江边 安装 万元 钟表 钟头 汪洋 吉林 吉他 康健 谭腿 孔雀 林地 黄昏 毕业
    柯南 苗条"""
)
# Characters that cannot be part of a given name: particles and function words.
CN_NAME_STOP = frozenset(
    "的是在和与跟及说去来到住于从向给把被对将已也都就了要会请为以们着过还又再很而或并且"
)
# Characters that may directly follow a name (besides punctuation): the above plus verbs,
# time words and titles that start after a name (王伟今天, 李娜女士, 张强电话).
CN_NAME_FOLLOW = CN_NAME_STOP | frozenset(
    "今明昨先女老同经医教律总工负主博电邮手身生出时年月日号现个位名姓叫称曾正刚便即打发等"
)
# Characters after which a Chinese name may begin (a clause start, a cue, a relation word).
CN_NAME_LEFT = frozenset(
    "叫是和与跟及给请由被把对向找让问见派称或系到了诉带陪送帮替嘱邀访谢在为的"
    "事友生长理师授士员户者人主东妈爸哥姐弟妹叔姨婆公"
    "@：:，,。；;、！？!?（(“\"‘' 　\t\n"
    "天晚才后"  # time words: 昨天李明, 今晚王芳, 刚才张伟, 然后赵敏
)
CN_TITLES = ("先生", "女士", "小姐", "老师", "经理", "医生", "教授", "同学", "律师", "主任", "总监")

CN_ORG_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "公司", "集团", "银行", "大学", "学院",
    "中学", "小学",
    "医院", "研究院", "研究所", "事务所", "委员会", "协会", "基金会", "出版社", "电视台", "报社",
    "科技", "中心", "工厂", "律所",
)  # fmt: skip
CN_LOC_SUFFIXES = (
    "特别行政区", "自治区", "自治州", "街道", "省", "市", "县", "区", "镇", "乡", "村", "路", "街",
    "巷", "州", "岛", "湾", "山", "湖", "大道", "胡同",
)  # fmt: skip
# Words that end in a place suffix but are not places (城市 "city", 超市 "supermarket").
CN_NOT_PLACES = _words(
    """城市 超市 上市 门市 都市 夜市 股市 楼市 地区 社区 小区 景区 园区 山区 郊区 市区 校区
    专区 误区 一路 马路 道路 公路 网路 思路 走路 线路 出路 铁路 大街 逛街 上街 上山
    爬山 下山 登山 江山 火山 高山 冰山 深山 省市 全市 全省 全县 本市 该市 各省 各区"""
)
# Characters that cannot be inside a place or organisation name chunk.
CN_CHUNK_STOP = frozenset(
    "的是在于从到了去往住和与我你他她它们这那个一有就也还将把被给为向来自位搬回前往离开：:，,。；;、（）()"
    "“”\"' 　请"
)
# Words that end a chunk too, though their characters start names: 上班 but 上海, 工作 but 工人路.
CN_CHUNK_STOP_WORDS = ("上班", "上学", "工作", "读书", "在家", "回家", "我家", "老家")

# Surrogate material: shown in redacted data, never used for detection.
SURROGATE_EN_FIRST = (
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Avery", "Quinn", "Rowan", "Sage",
    "Elliot", "Harper", "Reese", "Skyler", "Dakota", "Emerson", "Finley", "Hayden", "Kendall",
    "Logan",
)  # fmt: skip
SURROGATE_EN_LAST = (
    "Ashford", "Blackwood", "Carrow", "Dunmore", "Ellery", "Fairholm", "Greaves", "Hollis",
    "Ingram", "Jessop", "Kilbride", "Lockhart", "Marlow", "Northcott", "Oakes", "Pemberton",
    "Quarry", "Rowntree", "Stanton", "Thorne",
)  # fmt: skip
SURROGATE_CN_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "周", "吴", "孙")
SURROGATE_CN_GIVEN = "子涵雨桐浩然思远嘉怡一鸣晓彤俊杰欣妍泽宇梓萱文博若汐"
SURROGATE_EN_PLACES = (
    "Millbrook", "Ashton Vale", "Redcliff", "Stonebridge", "Westmere", "Harrowgate", "Lakeport",
    "Fernhill", "Oakridge", "Clearwater",
)  # fmt: skip
SURROGATE_CN_PLACES = (
    "青川市",
    "临江县",
    "明湖区",
    "云岭镇",
    "安平市",
    "东溪县",
    "白石区",
    "长宁市",
)
SURROGATE_EN_ORGS = (
    "Northwind Ltd", "Bluepeak Systems", "Harbor & Vale LLC", "Cedarline Group", "Brightfield Inc",
    "Ironwood Partners", "Silverlake Labs", "Kestrel Holdings",
)  # fmt: skip
SURROGATE_CN_ORGS = (
    "恒远科技有限公司",
    "瑞丰集团",
    "安和银行",
    "明德学院",
    "清源医院",
    "启航研究所",
)
SURROGATE_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
