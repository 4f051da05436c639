"""What the REST channel (bot/channels.py) answers by itself, and its limits.

Kept apart from the channel so that code without Rasa (the fault tests,
run in .venv) can import the exact words.
"""

from contract.contacts import HOTLINE

SILENCE_APOLOGY = f"抱歉，系统暂时没有回复您，请稍后再试。如需帮助，可拨打客服电话 {HOTLINE}。"
# A message longer than this is answered without being read or stored: no
# question about the card needs it, and each message is kept in the tracker.
MAX_MESSAGE_CHARS = 1000
# A session of a conversation holds at most this many user messages (each
# one makes the tracker longer to load, keep and send to the action
# server); beyond it a message is answered without being handled. The
# session ends after an hour without messages (domain.yml session_config),
# its details carried over.
DEFAULT_MAX_CONVERSATION_MESSAGES = 300
CONVERSATION_FULL = (
    "这次对话的消息已经很多了，暂时不能再处理新的消息。您已填写的信息都会保留：一小时后可以在这里接着办理；"
    f"也可以开始新的对话，或拨打客服电话 {HOTLINE}。"
)
TOO_LONG = f"您的消息太长了（超过 {MAX_MESSAGE_CHARS} 个字），请分几次简短地发送。您之前填写的信息都还在。"
