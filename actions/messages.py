"""What the assistant says: explanations of wrong answers and of failure
codes, and how a card is shown. Grounded in the claim manual
(shared/seed-notice-and-manual.txt)."""
from __future__ import annotations

from typing import Any

from backend.claims.permissions import IDENTITY_LABELS, PERMISSION_LABELS
from contract.contacts import HOTLINE

__all__ = ["HOTLINE", "IDENTITY_LABELS", "PERMISSION_LABELS"]

ID_PROBLEMS = {
    "empty": "没有收到身份证号，请输入18位身份证号码。",
    "length": "身份证号应为18位，您输入的位数不对，请核对后重新输入。",
    "characters": "身份证号只能包含数字，最后一位可以是字母X，请核对后重新输入。",
    "area": "身份证号前6位的地区码不正确，请核对后重新输入。",
    "birth_date": "身份证号中的出生日期（第7到14位）不正确，请核对后重新输入。",
    "checksum": "身份证号的校验位（最后一位）对不上，可能有数字输错了，请逐位核对后重新输入。",
}

NAME_PROBLEMS = {
    "empty": "没有收到姓名，请输入姓名。",
    "characters": "姓名只能包含汉字（少数民族姓名可用间隔号“·”），请重新输入。",
    "too_short": "姓名至少两个字，请输入完整的姓名。",
    "too_long": "姓名太长了，请只输入姓名本身。",
    "dots": "姓名中的间隔号“·”位置不对，请重新输入，例如：阿依古丽·买买提。",
}

# What a question expects, when the message cannot answer it.
NOT_AN_ANSWER = {
    "name": "没有识别到姓名。请只输入{what}（与身份证一致）。",
    "id_number": "没有识别到身份证号。请输入{what}：18位，最后一位可能是字母X。",
    "role": "没有识别到您的领卡身份。请点选下面的身份，或直接回复，例如“我是家长”“我是老师”。",
    "k12_claimant": "请回复“本人领取”（学生自己领）或“家长代领”（家长为孩子领）。",
    "face_verification": "请回复“开通”或“暂不开通”（是否开通由您自行选择）。",
    "details_confirmed": "信息无误请回复“确认无误，领卡”；要改哪一项，直接告诉我，例如“孩子名字错了”。",
}


def human_offer() -> str:
    return f"看起来这一步不太顺利。需要的话可以转人工客服帮您处理，或拨打客服电话 {HOTLINE}。"


VIEW_CARD = (
    "查看学习号及电子卡有三种方式：\n"
    "1. 登录江西省教育资源公共服务平台学习空间，在个人设置的“终身学习账号”菜单中查看；\n"
    "2. 打开支付宝-卡包；\n"
    "3. 在支付宝小程序中找到“江西省终身学习电子卡”小程序进入。"
)

FAILURES = {
    "invalid_id_number": "身份证号格式不正确，请核对后重新输入。",
    "identity_not_found": (
        "没有核验通过：姓名和身份证号与学籍库、教师库中的信息不一致。"
        "请确认填写的姓名、身份证号是否正确（包括生僻字、间隔号），再试一次。"
    ),
    "not_enrolled": (
        "核验到的学籍状态不是“在读”（例如已毕业、休学），不能按中小学生/中职学生领卡。"
        "大学生、教师和社会公众请选择对应的身份领卡；学籍信息有误请联系学校修改。"
    ),
    "guardian_mismatch": (
        "学籍系统中登记的监护人信息与您填写的不一致，或尚未登记监护人信息。"
        "请确认填写的家长信息是否正确；如学籍中的监护人信息有误或缺失，需要联系孩子所在学校修改或完善。"
    ),
    "proxy_limit_reached": "您已经为三个孩子代领过电子卡，目前每位家长最多代领三张，暂时不能再代领。",
    "rate_limited": "核验失败的次数太多，为保护个人信息，请一小时后再试；如有疑问可拨打客服电话 " + HOTLINE + "。",
    "backend_unavailable": (
        "抱歉，领卡系统暂时繁忙，没能完成核验。您填写的信息已保留，稍后回复“重试”即可再次提交，"
        "也可以拨打客服电话 " + HOTLINE + "。"
    ),
}


def labels(values: list[str], table: dict[str, str]) -> str:
    return "、".join(table.get(v, v) for v in values)


def card_message(body: dict[str, Any]) -> str:
    """The success answer: number, identities, permissions, where to see it."""
    card = body["card"]
    first = "领卡成功！" if body.get("status") == "issued" else "您已经领取过电子卡，无需重复领取。"
    lines = [
        first,
        f"学习号：{card['card_number']}",
        f"持卡人：{card['holder_name_masked']}（{card['holder_id_masked']}）",
        f"核验身份：{labels(card['identities'], IDENTITY_LABELS)}",
        # The permission names are this deployment's configuration, not the
        # notice's: the notice says only that they are assigned automatically.
        f"用卡权限：{labels(card['permissions'], PERMISSION_LABELS)}"
        "（系统根据学籍库、教师库的比对结果自动分配，权限名称为本服务的配置）",
    ]
    if card.get("face_verification") is not None:
        lines.append("人脸识别验证：" + ("已开通" if card["face_verification"] else "未开通"))
    if body.get("path_mismatch"):
        lines.append(
            f"提示：根据学籍库和教师库的比对结果，您的身份为“{labels(card['identities'], IDENTITY_LABELS)}”，"
            "已按比对结果分配权限。如与实际不符，可在个人中心-个人身份-更新身份，或联系所在学校核对信息。"
        )
    lines.append(VIEW_CARD)
    return "\n".join(lines)
