"""Contacts and the document, as the notice (shared/seed-notice-and-manual.txt)
names them. Defined once; every answer imports them."""

from __future__ import annotations

# 在线客服 / 电话咨询 of the manual: for teachers, students and parents.
HOTLINE = "0791-88185066"
# 三、工作要求 3. 及时反馈问题: for schools and education bureaus.
DEPARTMENT_CONTACT = "省教育厅教育管理信息中心倪聪林"
DEPARTMENT_PHONE = "0791-86756182"
# The notice itself.
NOTICE_ISSUER = "江西省教育厅"
NOTICE_NUMBER = "赣教规划字〔2019〕20号"
NOTICE_TITLE = "关于做好江西省终身学习账号发放工作的通知"
CLAIM_PERIOD = "2019年6月18日至8月30日"
REPORT_TIME = "9月初"
MINI_PROGRAM = "江西省终身学习电子卡"
