// The chat page: posts each question to this assistant's API and shows the answer, its FAQ
// id and confidence, and a visible hand-off notice. Plain JS, no libraries, works offline.
(function () {
  "use strict";
  const name = document.body.dataset.assistant;
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const key = document.getElementById("key");
  key.value = sessionStorage.getItem("cotune-key") || "";
  key.addEventListener("change", () => sessionStorage.setItem("cotune-key", key.value));

  function add(cls, text) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function line(parent, cls, text) {
    const div = document.createElement("div");
    div.className = cls;
    div.textContent = text;
    parent.appendChild(div);
    return div;
  }

  function show(answer) {
    const handoffText = answer.lang === "zh"
      ? "正在为您转接人工客服。"
      : "I'm handing you over to a person who can help.";
    const text = answer.answer && !(answer.handoff && answer.intent === null)
      ? answer.answer
      : (answer.lang === "zh" ? "抱歉，这个问题我无法回答。" : "Sorry, I can't answer that one.");
    const div = add("bot", text);
    const meta = line(div, "meta", "");
    meta.dataset.faqId = answer.faq_id || "";
    meta.textContent = (answer.faq_id ? "FAQ " + answer.faq_id + " · " : "") +
      "intent " + (answer.intent === null ? "none (out of scope)" : answer.intent) +
      " · confidence " + answer.confidence.toFixed(2);
    if (answer.handoff) {
      const h = line(div, "handoff", handoffText + (answer.reason ? " (" + answer.reason + ")" : ""));
      h.setAttribute("role", "status");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    add("user", text);
    input.value = "";
    const headers = { "content-type": "application/json" };
    if (key.value) headers["x-api-key"] = key.value;
    try {
      const response = await fetch("../v1/assistants/" + encodeURIComponent(name) + "/ask", {
        method: "POST", headers: headers, body: JSON.stringify({ text: text }),
      });
      const body = await response.json();
      if (!response.ok) {
        add("bot error", (body.error && body.error.message) || ("error " + response.status));
        return;
      }
      show(body);
    } catch (err) {
      add("bot error", "The assistant could not be reached: " + err);
    }
  });
})();
