"""Name rules after DIET ((c) of bot/entity_rules.py): what a Chinese
personal name looks like (plausible_name), person_name entities of clear
patterns DIET missed or cut, DIET's name spans repaired, and a message that
is nothing but a name (bare_name, for the intent).

Pure Python (no Rasa import).
"""

from __future__ import annotations

import re
from typing import Any

from bot.entity_lexicon import ROLE_LEXICON, ROLE_RE, SINGLE, has_surname, make_entity
from identity import check_name, normalise_name
from identity.idnumber import SEPARATOR_CHARS
from identity.surnames import COMPOUND, NOT_NAMES

_NAME_CHAR = r"[\u3400-\u9fff\uf900-\ufaff·]"
_RUN = re.compile(_NAME_CHAR + r"{2,20}")
# Characters that do not occur in a given name but end the name's run
# ("李小雨身份证...", "张三想领卡", "王芳的").
_STOP_CHARS = set(
    "的了是在吗呢吧啊呀哈嘛哦喔噢啦咯嘞么咋啥怎什谁哪你我他她它们这那和与及或就都也还再又很太真要想能会"
    "让给帮替为把被从到对跟请麻谢今读领办弄身证号岁级现已不没有个说问叫名字姓卡递绩"
)
_STOP_WORDS = (
    "身份",
    "证件",
    "号码",
    "今年",
    "刚才",
    "才对",
    "已经",
    "上学",
    "上小学",
    "上初中",
    "上高中",
    "上大学",
    "班的",
    "同学",
    "小朋友",
    "学生",
    "家长",
    "老师",
    "孩子",
    "在读",
    "读书",
    "领卡",
    "学号",
    "一年级",
    "二年级",
    "三年级",
    "四年级",
    "五年级",
    "六年级",
    "初一",
    "初二",
    "初三",
    "高一",
    "高二",
    "高三",
    "大一",
    "大二",
    "大三",
    "大四",
    "小学",
    "初中",
    "高中",
)
# Two-character words that start with a surname but are no name.
COMMON_WORDS = frozenset(
    """
    王者 李子 张家 刘海 陈述 黄色 周末 周一 周二 周三 周四 周五 周六 周日 孙子 孙女 马上 马虎 胡说
    何时 何必 高中 高一 高二 高三 高考 高兴 高职 高校 郑重 谢谢 许多 许可 曾经 于是 余额 叶子 程序
    任何 任务 陆续 范围 金额 石头 夏天 付钱 付款 付费 方便 方法 方式 白天 江西 黎明 万一 严重 常见
    常用 文件 文明 安全 安装 申请 申领 申报 关于 关闭 关注 符合 舒服 凌晨 毕业 单位 成功 成绩 游戏
    辛苦 管理 华为 解决 尤其 时间 时候 简单 项目 连接 党员 费用 卫生 全部 全家 应该 师生 师傅 商量
    明白 明天 明年 查询 查看 麻烦 官方 南昌 南方 班主任 班级 原因 原来 满意 厉害 花呗 花钱 权限 强制
    支付宝 支付 支持 国家 平时 平台 宣传 相关 初中 初一 初二 初三 门口 容易 都不是 都是 都行 普通 阿姨
    母亲 修改 那个 那就 宿舍 银行 公众 公司 哈哈 居民 干嘛 干啥 但是 信息 信号 由于 和你 和我 向你
    路上 车上 高铁 万能 史上 易于 乐意 云端 海外 房子 车子 明星 杨桃 钱包 钱呢 余下 毛病 甘心 包括
    宁愿 尚未 纪念 梅花 童年 季节 盛大 曲线 蓝色 路过 柴火 蒙古 华中 房间 屈服 解释 艾滋 尤为 阳光
    时代 农村 司机 卓越 古代 吉祥 简直 车辆 项链 连续 景区 宫殿 冷静 席位 卫星 米饭 宗旨 全省 全国
    应用 边上 师范 和平 商店 沙发 荣誉 桑拿 甄别 明确 池塘 查到 查查 官网 封面 谈话 乐园 原则 燕子
    楚楚 皮肤 楼上 盘子 闻到 位置 伊始 海报 花费 权利 强调 屠宰 豆子 盖章 练习 廉价 井冈 祖国 巴士
    丰富 支出 国际 平安 计算 索性 宣布 晋升 相同 初次 门票 云南 容量 敬请 来了 来吧 都市 普遍 戈壁
    伏天 薄荷 辜负 羊毛 阿里 乌鲁 母校 修订 赫然 杭州 况且 那么 那样 那些 那边 宿迁 鲜花 印象 隆重
    战斗 慕名 危险 玉米 银川 公开 公告 公务 公安 湛江 宾馆 利用 利息 呼叫 居然 干什么 干部 但愿 斯文
    元旦 束缚 衣服 信用 展示 阴天 智能 幸福 奉献 富裕 闭上 由此 江苏 湖南 广东 九江 赣州 上饶 吉安
    宜春 抚州 萍乡 新余 鹰潭 景德镇 南昌市 江西省 师大 南大 江财 华东 东华 明天吧 多少 多少钱 何事 何况
    霍乱 成人 成年 成绩单 管家 简历 江湖 秦朝 汤圆 温度 康复 文字 文化 武汉 钟点 钟表 苏州 左右 左边
    右边 甘蔗 祝福 包裹 宁静 尚且 高中生 初中生 大学生 学习号 高兴了 方便吗 万一呢 明白了 都可以 好的呀
    谢谢啦 知道了 成功了 失败了 花钱吗 收费吗 安全吗 官方的 申请了 申领了 查一下 查不到 查询下 查看下
    关闭了 修改下 修改一下 没问题 管理员 公众号 支付宝里 和孩子 和家长 和老师 都没有 都不对 都不行 那怎么办
    那咋办 那咋弄 那为啥 那为什么 那然后 那好吧 那就好 那行 那算了 那好 那个啥 那怎么弄 哈喽 哈罗 哈哈哈
    哈喽哈喽 查卡 查成绩 查分 查下 于是乎 时间呢 费用呢 全都对 全对 向日葵 海鲜 南极 北极 平板 电脑 路由
    车票 项目组
""".split()
)
# Name triggers: what comes right before a name.
_NAME_TRIGGER = re.compile(
    r"(?:(?:我|本人|俺|他|她|孩子|小孩|儿子|女儿|闺女|娃|宝宝|学生|老大|老二|老三|大宝|二宝|三宝|孙子|孙女|外孙|外孙女|女孩|男孩|"
    r"小孩子|孩儿|小儿子|大儿子|小女儿|大女儿|对象|老公|老婆|爱人|监护人|家长|妈妈|爸爸)(?:的)?(?:名字|姓名|大名|名)?"
    r"(?:叫做|叫|名叫|是叫|就叫|是)"
    r"|(?:名字|姓名|大名|真实姓名|学生姓名|孩子姓名|本人姓名|家长姓名|监护人姓名|孩子名字|学生名字|我的名字|孩子的名字)"
    r"(?:应该是|应该叫|改成|改为|是|叫做|叫|为|写|填)?[:：\s]*"
    r"|(?:改成|改为|更正为|更正成|换成|应该是|应该叫|正确的是|正确的名字是|其实是|其实叫|就是)"
    r"|(?:^|(?<=[,，。\s]))(?:是|叫|就叫)"
    r"|本人(?=[\u3400-\u9fff]{2,4}(?:[,，。\s]|$|身份|\d))"
    r"|(?:^|(?<=[,，。\s]))我(?=[\u3400-\u9fff]{2,4}(?:[,，。\s]|身份|\d)))"
)
# Relation word right before a name: 孩子宋佳琪，身份证...; 我儿子韩磊，...
_RELATION_NAME = re.compile(
    r"(?:孩子|小孩|儿子|女儿|闺女|娃|学生|孙子|孙女|外孙|外孙女|大宝|二宝|老大|老二|本人|家长|监护人|妈妈|爸爸|老师|"
    r"班主任|初中生|高中生|小学生|大学生|中职生|研究生|教师|(?:名字|姓名|名)[:：\s]*)"
)
# 给女儿李小雨领卡, 帮孩子王明领一下
_FOR_NAME = re.compile(
    r"(?:给|帮|替|为)(?:我)?(?:家)?(?:的)?(?:孩子|小孩|儿子|女儿|闺女|娃|孙子|孙女|外孙|外孙女|侄子|侄女|外甥|外甥女|"
    r"老大|老二|大宝|二宝|学生|小朋友)?"
)
_AFTER_NAME_OK = re.compile(
    r"$|[\s,，。.!！?？;；:：、)）]|(?:领|申请|办|弄|开通|代领|身份|的|今年|读|上|在|同学|小朋友|不是|不叫|也|还|要|想|"
    r"才对|吧|啊|呀|哈|哦|呢|嘛|啦|，|身份证|\d)"
)
_FILLERS_EDGE = re.compile(r"^[\s,，。.!！?？~～:：、\"'“”‘’()（）]+|[\s,，。.!！?？~～:：、\"'“”‘’()（）]+$")
_PARTICLES_END = re.compile(r"(?:吧|啊|呀|哈|哦|噢|喔|嘛|呢|啦|哟|咯|嘞|才对|哈哈)+$")
_ID_LIKE = re.compile(rf"[0-9Xx][0-9Xx{SEPARATOR_CHARS}]{{10,}}[0-9Xx]")


# Surnames that are also everyday verbs or function words (查快递, 来零卡,
# 和老师, 都不是): a bare word starting with one is no name.
VERBISH_SURNAMES = (
    frozenset(
        "查来和但都那向于应成全干过要能好开关双单东西南北上下左右前后里外中"
        "还再也就只才又很太最多少大小新老真共有没把被让给到从对跟请问找打用做写说讲学读领办弄搞等"
        "让叫喊催发布"
    )
    & SINGLE
)


def plausible_name(name: str, strict: bool = False) -> bool:
    """A Chinese personal name, not a word that starts like one."""
    value, problem = check_name(name)
    if problem is not None or value != name:
        return False
    if "·" in value:
        parts = value.split("·")
        return (
            all(1 <= len(p) <= 6 for p in parts)
            and len(value) <= 20
            and not any(c in "的了是在吗呢吧啊呀我你他她叫名孩儿女娃身证号姓" for c in value)
        )
    if not 2 <= len(value) <= 4:
        return False
    compound = value[:2] in COMPOUND
    if not (compound or value[0] in SINGLE):
        return False
    if len(value) == 4 and not compound:
        return False
    if len(value) == 2 and compound:
        return False
    given = value[2:] if compound else value[1:]
    if any(c in _STOP_CHARS for c in given):
        return False
    if value in NOT_NAMES or value in COMMON_WORDS or value in ROLE_LEXICON:
        return False
    if ROLE_RE.search(value) or any(w in value for w in _STOP_WORDS):
        return False
    if strict and (
        value[:2] in COMMON_WORDS or value[:3] in COMMON_WORDS or (not compound and value[0] in VERBISH_SURNAMES)
    ):
        return False
    return True


def name_at(text: str, start: int, strict: bool = False, need_end: bool = False) -> tuple[int, int] | None:
    """The name starting at `start`: the run of name characters, cut where
    a name cannot go on."""
    m = _RUN.match(text, start)
    if not m:
        return None
    run = m.group(0)
    if "·" not in run:
        cut = len(run)
        for i, c in enumerate(run):
            if i >= 2 and c in _STOP_CHARS:
                cut = i
                break
        for w in _STOP_WORDS:
            j = run.find(w, 2)
            if j != -1:
                cut = min(cut, j)
        run = run[:cut]
        limit = 4 if run[:2] in COMPOUND else 3
        if len(run) > limit:
            if need_end:
                return None
            # 3 characters, unless what follows the 2-character name ends it
            run = run[:limit]
    else:
        run = run.rstrip("·")
    for size in range(len(run), 1, -1):
        candidate = run[:size]
        end = start + size
        if plausible_name(candidate, strict) and _AFTER_NAME_OK.match(text, end):
            return start, end
        if need_end or "·" in candidate:
            break
    return None


def find_names(text: str, strict_bare: bool = True) -> list[dict[str, Any]]:
    """person_name entities of clear name patterns."""
    found: list[dict[str, Any]] = []
    spans: set = set()

    def add(span: tuple[int, int] | None) -> None:
        if span and span not in spans:
            spans.add(span)
            found.append(make_entity("person_name", normalise_name(text[span[0] : span[1]]), *span))

    for m in _NAME_TRIGGER.finditer(text):
        trigger = m.group(0)
        bare_self = trigger in ("本人", "我")
        add(name_at(text, m.end(), strict=bare_self or trigger.endswith("是") or trigger == "就是"))
    for m in _RELATION_NAME.finditer(text):
        span = name_at(text, m.end(), strict=True)
        if span and re.match(r"$|[\s,，。;；:：]|身份|\d|的|今年|在读|读|上", text[span[1] :]):
            add(span)
    for m in _FOR_NAME.finditer(text):
        span = name_at(text, m.end(), strict=True)
        if span and re.match(r"(?:领|申请|办|弄|开通|代领|申领)", text[span[1] :]):
            add(span)
    # A name opening a clause, right before the ID number ("喻可欣身份证3607...").
    for m in re.finditer(r"(?:^|(?<=[\s,，。;；]))(?=[\u3400-\u9fff])", text):
        span = name_at(text, m.start(), strict=True)
        if span and re.match(r"(?:的)?(?:身份证|身份|证件|号码)|\d", text[span[1] :]):
            add(span)
    # A bare name, or names next to ID numbers ("梁宇，3602..."), as the
    # whole message or its comma-separated parts.
    rest = _ID_LIKE.sub(",", text)
    chunks = [c for c in re.split(r"[\s,，。.!！?？;；:：、/]+", rest) if c]
    if chunks and len(chunks) <= 3:
        pos = 0
        for chunk in chunks:
            at = text.find(chunk, pos)
            pos = at + len(chunk)
            core = _PARTICLES_END.sub("", chunk)
            lead = 0
            for prefix in ("是", "叫", "我叫", "我是", "名字", "姓名"):
                if core.startswith(prefix) and len(core) - len(prefix) >= 2:
                    lead = len(prefix)
                    break
            name = core[lead:]
            if name and plausible_name(name, strict=strict_bare):
                add((at + lead, at + lead + len(name)))
    return found


def extend_name(text: str, ent: dict[str, Any]) -> tuple[int, int] | None:
    """A DIET name span repaired: the surname put back (志强 after 喻),
    trailing characters that cannot be a name's taken off."""
    start, end = ent.get("start"), ent.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        return None
    span = text[start:end]
    # trailing junk
    while end - start > 2 and (text[end - 1] in _STOP_CHARS or text[end - 1] == "·"):
        end -= 1
    while end - start > 2 and text[start] in "叫是":
        start += 1
    span = text[start:end]
    if not has_surname(span):
        for k in (2, 1):
            if start - k >= 0 and (text[start - k : start] in COMPOUND if k == 2 else text[start - 1] in SINGLE):
                if plausible_name(text[start - k : end]):
                    return start - k, end
    return start, end


def bare_name(text: str) -> str | None:
    """The name when the whole message is a name (for the intent)."""
    core = _PARTICLES_END.sub("", _FILLERS_EDGE.sub("", text))
    for prefix in ("是", "叫", "我叫", "我是", "名字是", "姓名", "名字"):
        if core.startswith(prefix) and len(core) - len(prefix) >= 2:
            core = core[len(prefix) :]
            break
    return core if core and plausible_name(core, strict=True) else None
