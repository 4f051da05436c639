/*
 * 学习号领卡助手: the web chat page at "/". Vanilla JS, no dependencies,
 * nothing loaded from elsewhere; the page's Content-Security-Policy allows
 * no inline script, so all behaviour lives here and the server passes its
 * settings as data- attributes of <body> (data-api, data-max-length,
 * data-poll-ms).
 *
 * Element contract (browser tests rely on these; keep them stable):
 *   #messages                  the conversation, one child per message:
 *     .msg.user                what the user sent (a tapped quick reply shows its title);
 *                              .msg.user.failed when it could not be delivered
 *     .msg.bot                 an answer of the bot
 *     .msg.agent               a support agent's reply (labelled 人工客服 in .label)
 *     .msg.system              a notice of the page (assistant unavailable, ...)
 *     .msg.welcome             the page's own greeting (not from the bot), with
 *                              .suggestions buttons that send their text
 *     .text                    inside each message: its text (always set with textContent)
 *   .quick-replies button      the bot's buttons, under the bot message that carries
 *                              them; tapping sends the payload and shows the title;
 *                              all become disabled once anything is sent
 *   #typing                    the typing indicator ("正在输入…"), hidden unless waiting
 *   #input, #send              the text input and the 发送 button (Enter sends too;
 *                              empty input is not sent; at most data-max-length chars)
 *   #new-chat                  新的对话: the backend starts a new conversation (POST
 *                              /chat/api/conversations replaces its cookie); an empty history
 *   #realname-toggle           the 模拟实名认证 switch (a checkbox; only outside production);
 *                              when on it reveals
 *   #realname-name, #realname-id   the identity the mini-program would have verified: the
 *                              backend signs a development token for it (POST
 *                              /chat/api/realname-token), sent as metadata.realname_token
 *                              with every message (when both are filled and valid)
 *
 * The conversation: the backend keeps it in an HttpOnly cookie (path /chat/api) that
 * this code never sees; the page sends no conversation id. On load the page asks for
 * the history (GET /chat/api/history: empty when the browser has no conversation yet;
 * ID numbers masked). Nothing is kept in browser storage: not the conversation, not
 * the simulated identity (typed names and ID numbers stay in the page's memory); the
 * keys earlier versions wrote to localStorage are removed when found.
 */
(function () {
  "use strict";

  var body = document.body;
  var API = body.getAttribute("data-api") || "/chat/api";
  var MAX_LENGTH = parseInt(body.getAttribute("data-max-length"), 10) || 500;
  var POLL_MS = parseInt(body.getAttribute("data-poll-ms"), 10) || 3000;
  // Keys earlier versions wrote to localStorage: removed when found.
  var OLD_KEYS = ["xxh.chat.sender", "xxh.chat.started", "xxh.chat.realname"];

  var TEXT = {
    welcome: "您好！我是学习号领卡助手，可以帮您领取学习号电子卡，也可以解答领卡中遇到的问题。请问有什么可以帮您？",
    suggestions: ["我要领卡", "领卡失败了", "怎么查看我的学习号"],
    // The server's wording (backend/web/chat_page.py), with the hotline of contract/contacts.py.
    unavailable: body.getAttribute("data-unavailable") || "助手暂时无法回复，请稍后再试。",
    offline: "网络连接失败，消息未发送，请检查网络后重试。",
    newChatFailed: "网络连接失败，未能开始新的对话，请稍后重试。",
    tooLong: "消息太长了，请不要超过 " + MAX_LENGTH + " 个字。",
    notDelivered: "未送达",
    agent: "人工客服",
    realnameOn: "模拟小程序已核验的实名身份：后台为以下姓名和身份证号签发实名凭证，随每条消息发送。",
    realnameIncomplete: "请填写姓名和身份证号，填写完整后才会签发实名凭证。",
    realnameRefused: "实名信息有误，未签发实名凭证：",
    realnameOff: "模拟小程序已核验的实名身份（仅限开发环境）：开启后由后台签发实名凭证，随每条消息发送。"
  };

  var el = {
    scroller: document.getElementById("scroller"),
    messages: document.getElementById("messages"),
    typing: document.getElementById("typing"),
    input: document.getElementById("input"),
    send: document.getElementById("send"),
    newChat: document.getElementById("new-chat"),
    realnameToggle: document.getElementById("realname-toggle"),
    realnameFields: document.getElementById("realname-fields"),
    realnameName: document.getElementById("realname-name"),
    realnameId: document.getElementById("realname-id"),
    realnameHint: document.getElementById("realname-hint")
  };

  function forgetOldKeys() {
    OLD_KEYS.forEach(function (key) {
      try { window.localStorage.removeItem(key); } catch (e) { /* storage unavailable: nothing kept */ }
    });
  }

  var startingNew = false;  // 新的对话 is on its way to the backend
  var state = {
    generation: 0,    // raised by 新的对话: answers about an older conversation are dropped
    started: false,   // the conversation has messages (then the page polls for agent replies)
    busy: false,
    polling: false,
    lastReplyId: 0
  };

  // -- rendering (text only ever goes in with textContent) --

  function scrollToEnd() {
    el.scroller.scrollTop = el.scroller.scrollHeight;
  }

  function textElement(text) {
    var p = document.createElement("p");
    p.className = "text";
    p.textContent = text;
    return p;
  }

  function addMessage(kind, text, buttons) {
    var msg = document.createElement("div");
    msg.className = "msg " + kind;
    if (kind === "agent") {
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = TEXT.agent;
      msg.appendChild(label);
    }
    if (kind === "system") {
      msg.appendChild(textElement(text));
    } else {
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.appendChild(textElement(text || ""));
      msg.appendChild(bubble);
    }
    if (buttons && buttons.length) {
      msg.appendChild(quickReplies(buttons, "quick-replies"));
    }
    el.messages.appendChild(msg);
    scrollToEnd();
    return msg;
  }

  function quickReplies(buttons, className) {
    var box = document.createElement("div");
    box.className = className;
    buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", function () {
        if (!button.disabled) {
          send(b.payload, b.title, false);
        }
      });
      box.appendChild(button);
    });
    return box;
  }

  function addWelcome() {
    var msg = addMessage("welcome", TEXT.welcome);
    var chips = TEXT.suggestions.map(function (t) { return { title: t, payload: t }; });
    msg.appendChild(quickReplies(chips, "suggestions"));
    if (state.started) {
      setButtonsDisabled(msg, true);
    }
  }

  function notice(text) {
    addMessage("system", text);
  }

  function setButtonsDisabled(root, disabled) {
    var buttons = root.querySelectorAll(".quick-replies button, .suggestions button");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = disabled;
    }
  }

  function lastMessage() {
    return el.messages.lastElementChild;
  }

  function renderBot(messages) {
    messages.forEach(function (m) {
      if (m && (m.text || (m.buttons && m.buttons.length))) {
        addMessage("bot", m.text || "", m.buttons || []);
      }
    });
  }

  function showTyping(on) {
    el.typing.hidden = !on;
    if (on) {
      scrollToEnd();
    }
  }

  function setBusy(on) {
    state.busy = on;
    el.send.disabled = on;
    el.messages.setAttribute("aria-busy", on ? "true" : "false");
    showTyping(on);
  }

  // -- the simulated real-name identity --

  // Tokens are signed for one conversation and live 15 minutes: one is
  // asked for again when the identity, the conversation or the time calls for it.
  var realnameToken = { key: "", token: "", until: 0 };

  function loadRealname() {
    if (el.realnameToggle) {
      showRealname();
    }
  }

  function realnameComplete() {
    return el.realnameName.value.trim() !== "" && el.realnameId.value.trim() !== "";
  }

  function showRealname(problem) {
    var on = el.realnameToggle.checked;
    el.realnameFields.hidden = !on;
    var incomplete = on && !realnameComplete();
    el.realnameHint.textContent = problem ? TEXT.realnameRefused + problem
      : on ? (incomplete ? TEXT.realnameIncomplete : TEXT.realnameOn) : TEXT.realnameOff;
    el.realnameHint.className = "realname-hint" + (incomplete || problem ? " warn" : "");
  }

  /* The metadata for the next message: a promise of null (no identity) or
     {realname_token}. A refused identity is said in the hint; the message is
     still sent, without it. */
  function metadata(generation) {
    if (!el.realnameToggle || !el.realnameToggle.checked || !realnameComplete()) {
      return Promise.resolve(null);
    }
    var name = el.realnameName.value.trim();
    var idNumber = el.realnameId.value.trim();
    var key = JSON.stringify([generation, name, idNumber]);
    if (realnameToken.key === key && Date.now() < realnameToken.until) {
      return Promise.resolve({ realname_token: realnameToken.token });
    }
    return fetch(API + "/realname-token", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ name: name, id_number: idNumber })
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (resp.ok && data && typeof data.realname_token === "string") {
          var lifetime = (data.expires_in || 900) * 1000;
          realnameToken = { key: key, token: data.realname_token, until: Date.now() + lifetime - 60000 };
          showRealname();
          return { realname_token: data.realname_token };
        }
        showRealname((data && typeof data.message === "string" && data.message) || "");
        return null;
      });
    }).catch(function () { return null; });
  }

  // -- talking to the server --

  function answer(resp) {
    return resp.json().catch(function () { return null; }).then(function (data) {
      return { ok: resp.ok, status: resp.status, data: data };
    });
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(answer);
  }

  /* POSTs carry JSON (the backend refuses anything else: see chat_page.py). */
  function postJson(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(data)
    }).then(answer);
  }

  function send(payload, shown, fromInput) {
    var text = (payload || "").trim();
    if (state.busy || startingNew || !text) {
      return;
    }
    if (text.length > MAX_LENGTH) {
      notice(TEXT.tooLong);
      return;
    }
    var generation = state.generation;
    var request = { message: text };
    setButtonsDisabled(el.messages, true);
    var bubble = addMessage("user", shown);
    if (fromInput) {
      el.input.value = "";
    }
    setBusy(true);

    function failed(message) {
      bubble.classList.add("failed");
      var mark = document.createElement("span");
      mark.className = "status";
      mark.textContent = TEXT.notDelivered;
      bubble.appendChild(mark);
      notice(message);
      if (fromInput) {
        if (el.input.value === "") {
          el.input.value = text;  // nothing typed is lost: it is back in the input
        }
      } else {
        enableTrailingButtons();
      }
    }

    metadata(generation).then(function (meta) {
      if (generation !== state.generation) {
        return null;  // a new conversation was started meanwhile: this message is dropped
      }
      if (meta) {
        request.metadata = meta;
      }
      return postJson(API + "/messages", request);
    }).then(function (r) {
      if (!r || generation !== state.generation) {
        return;  // a new conversation was started meanwhile
      }
      if (r.ok && r.data && Array.isArray(r.data.messages)) {
        state.started = true;
        renderBot(r.data.messages);
        startPolling();
      } else {
        failed((r.data && typeof r.data.message === "string" && r.data.message) || TEXT.unavailable);
      }
    }).catch(function () {
      if (generation === state.generation) {
        failed(TEXT.offline);
      }
    }).then(function () {
      if (generation === state.generation) {
        setBusy(false);
        if (fromInput) {
          el.input.focus();
        }
      }
    });
  }

  /* The quick replies of the bot's latest message stay usable until the
     user sends something (an agent's reply in between does not count). */
  function enableTrailingButtons() {
    var candidates = el.messages.querySelectorAll(".msg.bot, .msg.user:not(.failed), .msg.welcome");
    var last = candidates.length ? candidates[candidates.length - 1] : null;
    if (last && (last.classList.contains("bot") || last.classList.contains("welcome"))) {
      setButtonsDisabled(last, false);
    }
  }

  function sendInput() {
    var value = el.input.value;
    if (value.trim() === "") {
      el.input.value = "";
      el.input.focus();
      return;
    }
    send(value, value.trim(), true);
  }

  function poll() {
    if (state.polling || document.hidden || !state.started) {
      return;
    }
    var generation = state.generation;
    state.polling = true;
    getJson(API + "/updates?after=" + state.lastReplyId)
      .then(function (r) {
        if (!r.ok || !r.data || !Array.isArray(r.data.replies) || generation !== state.generation) {
          return;
        }
        r.data.replies.forEach(function (reply) {
          if (typeof reply.id === "number" && reply.id > state.lastReplyId) {
            state.lastReplyId = reply.id;
            addMessage("agent", String(reply.text));
          }
        });
      })
      .catch(function () { /* offline: the next poll tries again */ })
      .then(function () { state.polling = false; });
  }

  var pollTimer = null;
  function startPolling() {
    if (pollTimer === null) {
      pollTimer = window.setInterval(poll, POLL_MS);
    }
  }

  /* On load: the browser's conversation, if it has one (the backend knows). */
  function restoreHistory() {
    var generation = state.generation;
    return getJson(API + "/history").then(function (r) {
      if (generation !== state.generation) {
        return;
      }
      if (!r.ok || !r.data || !Array.isArray(r.data.messages)) {
        notice((r.data && typeof r.data.message === "string" && r.data.message) ||
               "暂时无法加载之前的聊天记录，您可以继续对话。");
        return;
      }
      r.data.messages.forEach(function (m) {
        if (m.from === "user") {
          addMessage("user", String(m.text));
        } else if (m.from === "agent") {
          addMessage("agent", String(m.text));
        } else if (m.from === "bot") {
          renderBot([m]);
        }
      });
      if (typeof r.data.last_reply_id === "number") {
        state.lastReplyId = Math.max(state.lastReplyId, r.data.last_reply_id);
      }
      if (r.data.messages.length) {
        state.started = true;
        setButtonsDisabled(el.messages, true);
        enableTrailingButtons();
      }
    }).catch(function () {
      if (generation === state.generation) {
        notice("暂时无法加载之前的聊天记录，您可以继续对话。");
      }
    });
  }

  /* 新的对话: the backend replaces the conversation (its cookie); answers
     about the old one still on their way are dropped, and nothing is sent
     until the new one is there. */
  function newChat() {
    if (startingNew) {
      return;
    }
    startingNew = true;
    el.newChat.disabled = true;
    state.generation += 1;  // from now on, answers about the old conversation are dropped
    setBusy(false);
    postJson(API + "/conversations", {}).then(function (r) {
      if (!r.ok) {
        notice((r.data && typeof r.data.message === "string" && r.data.message) || TEXT.newChatFailed);
        return;
      }
      state.started = false;
      state.lastReplyId = 0;
      realnameToken = { key: "", token: "", until: 0 };
      setBusy(false);
      el.messages.textContent = "";
      el.input.value = "";
      addWelcome();
      el.input.focus();
    }).catch(function () {
      notice(TEXT.newChatFailed);
    }).then(function () {
      startingNew = false;
      el.newChat.disabled = false;
    });
  }

  // -- wiring --

  el.input.setAttribute("maxlength", String(MAX_LENGTH));
  el.send.addEventListener("click", sendInput);
  el.input.addEventListener("keydown", function (event) {
    // Enter that confirms a Chinese input method's candidate is not a send.
    if (event.key === "Enter" && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      sendInput();
    }
  });
  el.newChat.addEventListener("click", newChat);
  if (el.realnameToggle) {
    el.realnameToggle.addEventListener("change", function () {
      showRealname();
      scrollToEnd();
    });
    el.realnameName.addEventListener("input", function () { showRealname(); });
    el.realnameId.addEventListener("input", function () { showRealname(); });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      poll();
    }
  });

  forgetOldKeys();
  loadRealname();
  addWelcome();
  restoreHistory().then(function () {
    if (state.started) {
      startPolling();
      poll();
    }
  });
}());
