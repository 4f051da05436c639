"""Chinese surnames, to tell a bare name from a short reply.

Asked for a name, people type just the name (刘婉馨); the intent model may
read an unknown three-character word as "yes". A short answer that starts
with a surname and is not one of the few everyday words that do too is
taken as the name.
"""

from __future__ import annotations

# Single-character surnames: the common ones of the 百家姓 and of today's
# population statistics (covering well over 99 % of people).
SINGLE = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向"
    "汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单"
    "季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄"
    "窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查"
    "麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖"
    "练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那"
    "宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
)
COMPOUND = frozenset(
    (
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "令狐",
        "长孙",
        "慕容",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "钟离",
        "澹台",
        "公冶",
        "太史",
        "申屠",
    )
)
# Everyday replies that start with a surname character.
NOT_NAMES = frozenset(
    (
        "谢谢",
        "谢谢你",
        "谢谢您",
        "明白",
        "明白了",
        "方便",
        "高兴",
        "都行",
        "都可以",
        "都是",
        "应该",
        "全部",
        "那个",
        "那就",
        "来了",
        "来吧",
        "何时",
        "时间",
        "马上",
        "万一",
        "江西",
        "南昌",
        "安全",
        "平安",
        "和你",
        "好的",
        "可以",
        "没有",
        "不是",
        "是的",
        "对的",
        "继续",
        "取消",
        "确认",
        "人工",
        "转人工",
        "干嘛",
        "金额",
        "费用",
        "多少",
        "多少钱",
        "余额",
        "钱呢",
        "周末",
        "明天",
        "明天吧",
        "晚点",
        "晚上",
        "文明",
        "华为",
    )
)


def has_surname(name: str) -> bool:
    return name[:2] in COMPOUND or name[:1] in SINGLE
