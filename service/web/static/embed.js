// replyguard's comment widget. One tag on an article page:
//   <script src="https://HOST/embed.js" data-site="SITE" data-article="ARTICLE" async></script>
// It shows the approved thread and a reply form in a shadow root (the page's CSS cannot
// reach in), renders readers' text as text only, and keeps the author's status token in
// localStorage so "awaiting moderation" survives a reload. No framework, no dependencies.
// A site with its own sign-in passes the reader's signed token (see the README's SSO
// section) as data-auth-token on the tag or its target, or later with
// window.ReplyGuard.setAuthToken(token); it goes with each comment as X-Author-Token.
// It speaks the language of data-lang on the tag (or its target), else of the page's
// <html lang>; see STRINGS below.
(() => {
  "use strict";

  // Every word the widget says, by language: a newsroom adds a language by adding one entry
  // (copy "en", translate the values, keep each key and {placeholder}). A tag such as "es-MX"
  // uses its own entry if there is one, else "es"; a language not here gets English. An
  // entry with "one"/"other" is chosen by count with the language's plural rules (some
  // languages also need "few" or "many"). Written as JSON (double quotes, no trailing
  // commas): tests/unit/test_embed_strings.py reads it to check every language against English.
  const STRINGS = {
    "en": {
      "comments": "Comments",
      "loadMore": "Load more comments",
      "join": "Join the discussion",
      "yourName": "Your name",
      "yourComment": "Your comment",
      "commentingAs": "Commenting as {name}",
      "yourAccount": "your account",
      "replyingTo": "Replying to {name}",
      "cancelReply": "Cancel reply",
      "post": "Post comment",
      "reply": "Reply",
      "replyTo": "Reply to {name}",
      "commentBy": "Comment by {name}",
      "removedComment": "Removed comment",
      "removed": "This comment was removed.",
      "awaiting": "Awaiting moderation",
      "published": "Published",
      "notPublished": "Not published",
      "refusedNote": "This comment was not published: it did not meet the site's guidelines. Only you can see this note.",
      "dismiss": "Dismiss",
      "waitingForParent": "Approved: it appears once the comment it answers is moderated",
      "loadFailed": "The comments could not be loaded right now.",
      "empty": "No comments yet. Be the first.",
      "nameMissing": "Please give your name.",
      "bodyMissing": "Please write a comment.",
      "sending": "Sending…",
      "thanks": "Thank you. Your comment is awaiting moderation.",
      "you": "You",
      "signInUnchecked": "Your sign-in could not be checked.",
      "signInAgain": "{reason} Sign in again to comment.",
      "fieldProblem": "{field} {problem}",
      "tooMany": {
        "one": "Too many comments; try again in {count} second.",
        "other": "Too many comments; try again in {count} seconds."
      },
      "unavailable": {
        "one": "The comment service is busy and nothing was saved. Try again in {count} second.",
        "other": "The comment service is busy and nothing was saved. Try again in {count} seconds."
      },
      "refused": "Your comment could not be sent: {reason}",
      "notSent": "Your comment could not be sent.",
      "unreachable": "The comment service cannot be reached. Try again."
    },
    "es": {
      "comments": "Comentarios",
      "loadMore": "Cargar más comentarios",
      "join": "Participe en la conversación",
      "yourName": "Su nombre",
      "yourComment": "Su comentario",
      "commentingAs": "Comenta como {name}",
      "yourAccount": "su cuenta",
      "replyingTo": "En respuesta a {name}",
      "cancelReply": "Cancelar respuesta",
      "post": "Publicar comentario",
      "reply": "Responder",
      "replyTo": "Responder a {name}",
      "commentBy": "Comentario de {name}",
      "removedComment": "Comentario eliminado",
      "removed": "Este comentario fue eliminado.",
      "awaiting": "Pendiente de moderación",
      "published": "Publicado",
      "notPublished": "No publicado",
      "refusedNote": "Este comentario no se publicó: no cumplía las normas del sitio. Solo usted ve esta nota.",
      "dismiss": "Descartar",
      "waitingForParent": "Aprobado: aparecerá cuando se modere el comentario al que responde",
      "loadFailed": "No se pudieron cargar los comentarios en este momento.",
      "empty": "Aún no hay comentarios. Escriba el primero.",
      "nameMissing": "Indique su nombre.",
      "bodyMissing": "Escriba un comentario.",
      "sending": "Enviando…",
      "thanks": "Gracias. Su comentario está pendiente de moderación.",
      "you": "Usted",
      "signInUnchecked": "No se pudo comprobar su inicio de sesión.",
      "signInAgain": "{reason} Vuelva a iniciar sesión para comentar.",
      "fieldProblem": "{field}: {problem}",
      "tooMany": {
        "one": "Demasiados comentarios; inténtelo de nuevo en {count} segundo.",
        "other": "Demasiados comentarios; inténtelo de nuevo en {count} segundos."
      },
      "unavailable": {
        "one": "El servicio de comentarios está ocupado y no se guardó nada. Inténtelo de nuevo en {count} segundo.",
        "other": "El servicio de comentarios está ocupado y no se guardó nada. Inténtelo de nuevo en {count} segundos."
      },
      "refused": "No se pudo enviar su comentario: {reason}",
      "notSent": "No se pudo enviar su comentario.",
      "unreachable": "No se puede conectar con el servicio de comentarios. Inténtelo de nuevo."
    }
  };

  // Tokens given with setAuthToken win over the tags' data-auth-token; null signs out.
  let sharedToken;
  const widgets = new Set(); // each mounted widget's "the token changed" callback
  const api = (window.ReplyGuard = window.ReplyGuard || {});
  api.setAuthToken = (token) => {
    sharedToken = typeof token === "string" && token ? token : null;
    for (const changed of widgets) changed();
  };

  const CSS = `
:host { display: block; }
.rg { all: initial; display: block; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; letter-spacing: normal; word-spacing: normal; text-align: left; text-transform: none; }
* { box-sizing: border-box; }
h2 { font-size: 1.25em; margin: 0 0 0.6em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
ol { list-style: none; margin: 0; padding: 0; }
.replies { margin-left: 1.2em; padding-left: 0.9em; border-left: 2px solid #d9dee7; }
.comment > article { padding: 0.6em 0; border-bottom: 1px solid #eceff4; }
.name { font-weight: 700; }
time { color: #5b6475; font-size: 0.85em; margin-left: 0.5em; }
.text { margin: 0.25em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.own > article { background: #f6f8fb; padding-left: 0.6em; border-left: 3px solid #b26a00; }
.badge { display: inline-block; margin-left: 0.5em; font-size: 0.8em; padding: 0 0.45em; border-radius: 3px; background: #b26a00; color: #fff; }
.badge.published { background: #1b7a43; }
.badge.refused { background: #b3261e; }
.badge.waiting { background: #5b6475; }
.removed > article .text { color: #5b6475; font-style: italic; }
button { font: inherit; font-size: 0.9em; cursor: pointer; border-radius: 4px; padding: 0.25em 0.7em; border: 1px solid #1f5fbf; background: #fff; color: #1f5fbf; }
button[type=submit] { background: #1f5fbf; color: #fff; }
button:disabled { opacity: 0.5; cursor: default; }
button.link { border: 0; padding: 0; background: none; text-decoration: underline; }
:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
form { display: grid; gap: 0.35em; max-width: 40em; }
label { font-weight: 600; font-size: 0.95em; }
input, textarea { font: inherit; padding: 0.4em; border: 1px solid #9aa3b2; border-radius: 4px; width: 100%; }
.replying { margin: 0; color: #5b6475; }
.status, .form-status { min-height: 1.2em; margin: 0.3em 0; color: #5b6475; }
.error { color: #b3261e; }
.signed-in { margin: 0; color: #5b6475; }
.more { margin: 0.8em 0; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  function scripts() {
    if (document.currentScript && document.currentScript.dataset.site) return [document.currentScript];
    return [...document.querySelectorAll("script[data-site][data-article]")].filter(
      (s) => /\/embed\.js(\?|$)/.test(s.src) && !s.dataset.replyguardReady,
    );
  }

  function store(key) {
    return {
      read() {
        try {
          const value = JSON.parse(localStorage.getItem(key) || "[]");
          return Array.isArray(value) ? value : [];
        } catch {
          return [];
        }
      },
      write(items) {
        try {
          if (items.length) localStorage.setItem(key, JSON.stringify(items));
          else localStorage.removeItem(key);
        } catch {
          // Private browsing may refuse storage; the widget still works for this page view.
        }
      },
    };
  }

  function httpUrl(value) {
    try {
      const url = new URL(value);
      url.hash = "";
      return url.protocol === "http:" || url.protocol === "https:" ? url.href.slice(0, 2000) : null;
    } catch {
      return null;
    }
  }

  // The entry of STRINGS for a language tag ("es-MX": its own, else "es"), and the locale
  // that formats dates and numbers: the tag itself when the widget speaks its language.
  function language(tag) {
    const wanted = tag.trim().toLowerCase();
    const codes = Object.keys(STRINGS);
    const code = codes.find((c) => c.toLowerCase() === wanted) || codes.find((c) => c.toLowerCase() === wanted.split(/[-_]/)[0]);
    if (!code) return { code: "en", locale: "en" };
    try {
      return { code, locale: Intl.getCanonicalLocales(tag.trim())[0] };
    } catch {
      return { code, locale: code }; // not a well-formed tag, such as "es_MX"
    }
  }

  // say(key, values) is a phrase of the chosen language with its {placeholders} filled
  // (numbers in the locale's digits); phrase(key, values) the same as parts to append, so a
  // value may be an element and each language puts it where its word order wants it.
  function phrasebook(code, locale) {
    const numbers = new Intl.NumberFormat(locale);
    const plurals = new Intl.PluralRules(locale);
    function phrase(key, values = {}) {
      let text = STRINGS[code][key] ?? STRINGS.en[key];
      if (typeof text !== "string") text = text[plurals.select(values.count)] || text.other;
      return text.split(/\{(\w+)\}/).map((part, i) => {
        if (i % 2 === 0) return part;
        return typeof values[part] === "number" ? numbers.format(values[part]) : (values[part] ?? "");
      });
    }
    return { phrase, say: (key, values) => phrase(key, values).join("") };
  }

  function mount(script) {
    script.dataset.replyguardReady = "1";
    const base = new URL(script.src).origin;
    const site = script.dataset.site;
    const article = script.dataset.article;
    const pollSeconds = Math.max(Number(script.dataset.pollSeconds) || 5, 0.2);
    const canonical = document.querySelector('link[rel="canonical"]');
    const articleUrl = httpUrl(canonical ? canonical.href : location.href);
    const articleTitle = (script.dataset.title || document.title || "").slice(0, 300);
    const threadPath = `${base}/v1/sites/${encodeURIComponent(site)}/articles/${encodeURIComponent(article)}/comments`;
    const mine = store(`replyguard:${base}:${site}:${article}`);
    const target = script.dataset.target && document.getElementById(script.dataset.target);
    const tagToken = script.dataset.authToken || (target && target.dataset.authToken) || null;
    const authToken = () => (sharedToken === undefined ? tagToken : sharedToken);
    const lang = script.dataset.lang || (target && target.dataset.lang) || document.documentElement.lang || "";
    const { code, locale } = language(lang);
    const { phrase, say } = phrasebook(code, locale);

    const host = document.createElement("div");
    host.className = "replyguard-comments";
    if (target) target.append(host);
    else script.after(host);
    const root = host.attachShadow({ mode: "open" });
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(el("style", { text: CSS }));
    }

    const status = el("p", { class: "status", role: "status", "aria-live": "polite" });
    const thread = el("ol", { class: "thread", "aria-label": say("comments") });
    const more = el("button", { type: "button", class: "more", text: say("loadMore") });
    more.hidden = true;
    const nameInput = el("input", { id: "rg-name", name: "author_name", required: "", maxlength: "80", autocomplete: "name" });
    const nameLabel = el("label", { for: "rg-name", text: say("yourName") });
    const signedInName = el("span", { class: "name" });
    const signedIn = el("p", { class: "signed-in" }, ...phrase("commentingAs", { name: signedInName }));
    signedIn.hidden = true;
    const bodyInput = el("textarea", { id: "rg-body", name: "body", required: "", maxlength: "5000", rows: "4" });
    const replyingName = el("span");
    const cancelReply = el("button", { type: "button", class: "link", text: say("cancelReply") });
    const replying = el("p", { class: "replying" }, ...phrase("replyingTo", { name: replyingName }), " · ", cancelReply);
    replying.hidden = true;
    const submit = el("button", { type: "submit", text: say("post") });
    const formStatus = el("p", { class: "form-status", role: "status", "aria-live": "polite" });
    const form = el(
      "form",
      { "aria-labelledby": "rg-form-title", novalidate: "" },
      el("h3", { id: "rg-form-title", text: say("join") }),
      replying,
      signedIn,
      nameLabel,
      nameInput,
      el("label", { for: "rg-body", text: say("yourComment") }),
      bodyInput,
      el("div", {}, submit),
      formStatus,
    );
    root.append(
      el("section", { class: "rg", lang: locale, "aria-labelledby": "rg-title" }, el("h2", { id: "rg-title", text: say("comments") }), status, thread, more, form),
    );
    try {
      nameInput.value = localStorage.getItem("replyguard:name") || "";
    } catch {
      // No storage: the reader types their name.
    }

    // A signed-in reader's name comes from the site's token; the service checks the
    // signature, the widget only reads the name to show it.
    function tokenName(token) {
      try {
        const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
        const claims = JSON.parse(new TextDecoder().decode(bytes));
        return typeof claims.name === "string" ? claims.name.slice(0, 80) : "";
      } catch {
        return "";
      }
    }

    function showSignedIn() {
      const token = authToken();
      const name = token ? tokenName(token) : "";
      signedIn.hidden = !token;
      signedInName.textContent = name || say("yourAccount");
      nameLabel.hidden = nameInput.hidden = Boolean(token);
    }
    showSignedIn();
    widgets.add(showSignedIn);

    let cursor = null;
    let parentId = null;
    const shown = new Map(); // comment id -> its <li>

    function when(iso) {
      const date = new Date(iso);
      return el("time", { datetime: iso, text: date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" }) });
    }

    function removedNode(item) {
      // Rejected, but approved replies hang from it: it keeps its place, not its words.
      const body = el("article", { "aria-label": say("removedComment") }, el("p", { class: "text", text: say("removed") }));
      const li = el("li", { class: "comment removed" }, body, el("ol", { class: "replies" }));
      li.dataset.id = item.id;
      shown.set(item.id, li);
      return li;
    }

    function commentNode(item, own) {
      if (item.removed) return removedNode(item);
      const badge = own ? el("span", { class: "badge", text: say("awaiting") }) : null;
      const header = el("header", {}, el("span", { class: "name", text: item.author_name }), when(item.created_at));
      if (badge) header.append(badge);
      const replyButton = el("button", { type: "button", class: "link reply", text: say("reply") });
      replyButton.setAttribute("aria-label", say("replyTo", { name: item.author_name }));
      replyButton.addEventListener("click", () => startReply(item));
      const body = el("article", { "aria-label": say("commentBy", { name: item.author_name }) }, header, el("p", { class: "text", text: item.body }));
      if (!own) body.append(replyButton);
      const li = el("li", { class: own ? "comment own" : "comment" }, body, el("ol", { class: "replies" }));
      li.dataset.id = item.id;
      shown.set(item.id, li);
      return li;
    }

    function place(node, parent) {
      const parentNode = parent && shown.get(parent);
      (parentNode ? parentNode.querySelector(":scope > .replies") : thread).append(node);
    }

    function addThread(items) {
      for (const item of items) {
        if (shown.has(item.id)) {
          // Our own comment, now published: show it as everyone sees it.
          shown.get(item.id).replaceWith(commentNode(item, false));
        } else {
          place(commentNode(item, false), item.parent_id);
        }
        addThread(item.replies || []);
      }
    }

    function startReply(item) {
      parentId = item.id;
      replyingName.textContent = item.author_name;
      replying.hidden = false;
      bodyInput.focus();
    }

    function stopReply() {
      parentId = null;
      replying.hidden = true;
    }

    cancelReply.addEventListener("click", () => {
      stopReply();
      bodyInput.focus();
    });
    bodyInput.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && parentId) stopReply();
    });

    async function load() {
      try {
        const url = cursor ? `${threadPath}?cursor=${encodeURIComponent(cursor)}` : threadPath;
        const response = await fetch(url, { credentials: "omit" });
        if (!response.ok) throw new Error(String(response.status));
        const page = await response.json();
        addThread(page.items);
        cursor = page.next_cursor;
        more.hidden = !cursor;
        showEmpty();
      } catch {
        status.textContent = say("loadFailed");
      }
    }

    // "No comments yet" only above an empty list: the reader's own waiting comment counts.
    function showEmpty() {
      const empty = !thread.children.length;
      if (empty && !status.textContent) status.textContent = say("empty");
      else if (!empty && status.textContent === say("empty")) status.textContent = "";
    }

    more.addEventListener("click", async () => {
      more.disabled = true;
      await load();
      more.disabled = false;
    });

    // -- the author's own comments, until they are decided --

    function showOwn(entry) {
      if (shown.has(entry.id)) {
        // In the thread now: nothing left to remember.
        mine.write(mine.read().filter((e) => e.id !== entry.id));
        return;
      }
      if (Date.now() - Date.parse(entry.created_at) > 86400000) {
        mine.write(mine.read().filter((e) => e.id !== entry.id));
        return;
      }
      place(commentNode(entry, true), entry.parent_id);
      showEmpty();
      if (entry.published) settle(entry, true);
    }

    function waiting() {
      return mine.read().filter((e) => !e.published);
    }

    // A published comment stays in storage, shown as the author's, until the (cached)
    // thread includes it; a refused one goes as soon as its author has been told.
    function settle(entry, published) {
      const node = shown.get(entry.id);
      const rest = mine.read().filter((e) => e.id !== entry.id);
      mine.write(published ? [...rest, { ...entry, published: true }] : rest);
      if (!node) return;
      const badge = node.querySelector(":scope > article .badge");
      if (!badge) return;
      if (published) {
        badge.textContent = say("published");
        badge.className = "badge published";
        return;
      }
      badge.textContent = say("notPublished");
      badge.className = "badge refused";
      const note = el("p", { class: "error", text: say("refusedNote") });
      const dismiss = el("button", { type: "button", class: "link", text: say("dismiss") });
      dismiss.addEventListener("click", () => {
        node.remove();
        shown.delete(entry.id);
        showEmpty();
        bodyInput.focus();
      });
      node.querySelector(":scope > article").append(note, dismiss);
    }

    // An approved reply to a comment still waiting for moderation is shown with it: the
    // author is told so, and the widget keeps asking.
    function waitForParent(entry) {
      const node = shown.get(entry.id);
      const badge = node && node.querySelector(":scope > article .badge");
      if (!badge) return;
      badge.textContent = say("waitingForParent");
      badge.className = "badge waiting";
    }

    let delay = pollSeconds;
    let polling = false;
    async function checkOwn() {
      for (const entry of waiting()) {
        try {
          const response = await fetch(`${base}/v1/comments/${encodeURIComponent(entry.id)}`, {
            headers: { Authorization: `Bearer ${entry.token}` },
            credentials: "omit",
          });
          if (response.status === 404) {
            mine.write(mine.read().filter((e) => e.id !== entry.id));
            continue;
          }
          if (!response.ok) continue;
          const answer = await response.json();
          if (answer.status === "approved" && answer.waiting_for === "parent") waitForParent(entry);
          else if (answer.status === "approved") settle(entry, true);
          else if (answer.status === "rejected") settle(entry, false);
        } catch {
          // Offline or the service is away: ask again later.
        }
      }
      if (waiting().length) {
        delay = Math.min(delay * 1.3, 60);
        setTimeout(checkOwn, delay * 1000);
      } else {
        polling = false;
      }
    }

    function watchOwn() {
      delay = pollSeconds;
      if (polling) return;
      polling = true;
      setTimeout(checkOwn, delay * 1000);
    }

    // What to tell the reader when the service did not take the comment: the widget's own
    // words, around the service's reason where it gave one.
    function refusal(response, answer) {
      const detail = answer && typeof answer.detail === "string" ? answer.detail : "";
      if (response.status === 401) {
        // The site's sign-in token was refused: say why, never post as someone else.
        return say("signInAgain", { reason: detail || say("signInUnchecked") });
      }
      const fields = new Map([["author_name", say("yourName")], ["body", say("yourComment")]]);
      const problems = answer && Array.isArray(answer.errors) ? answer.errors : [];
      if (problems.length) {
        return problems.map((e) => say("fieldProblem", { field: fields.get(e.field) || String(e.field).replace(/_/g, " "), problem: e.problem })).join("; ");
      }
      const wait = Number.parseInt(response.headers.get("Retry-After"), 10);
      if (response.status === 429 && wait > 0) return say("tooMany", { count: wait });
      if (response.status === 503 && wait > 0) return say("unavailable", { count: wait });
      return detail ? say("refused", { reason: detail }) : say("notSent");
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      formStatus.className = "form-status";
      const token = authToken();
      const author = token ? tokenName(token) : nameInput.value.trim();
      const text = bodyInput.value.trim();
      const nameMissing = !author && !token;
      if (nameMissing || !text) {
        formStatus.className = "form-status error";
        formStatus.textContent = say(nameMissing ? "nameMissing" : "bodyMissing");
        (nameMissing ? nameInput : bodyInput).focus();
        return;
      }
      submit.disabled = true;
      formStatus.textContent = say("sending");
      const payload = { body: text, author_name: author || undefined, article_title: articleTitle || undefined };
      if (articleUrl) payload.article_url = articleUrl;
      if (parentId) payload.parent_id = parentId;
      const headers = { "Content-Type": "application/json" };
      if (token) headers["X-Author-Token"] = token;
      try {
        const response = await fetch(threadPath, {
          method: "POST",
          headers,
          body: JSON.stringify(payload),
          credentials: "omit",
        });
        const answer = await response.json().catch(() => null);
        if (response.status !== 202) throw new Error(refusal(response, answer));
        const entry = { id: answer.id, token: answer.author_token, author_name: author || say("you"), body: text, parent_id: parentId, created_at: answer.created_at };
        mine.write([...mine.read(), entry]);
        try {
          if (!token) localStorage.setItem("replyguard:name", author);
        } catch {
          // Fine without it.
        }
        showOwn(entry);
        bodyInput.value = "";
        stopReply();
        formStatus.textContent = say("thanks");
        watchOwn();
      } catch (error) {
        formStatus.className = "form-status error";
        formStatus.textContent = error instanceof TypeError ? say("unreachable") : error.message;
      } finally {
        submit.disabled = false;
      }
    });

    load().then(() => {
      for (const entry of mine.read()) showOwn(entry);
      if (waiting().length) {
        polling = true;
        checkOwn();
      }
    });
  }

  for (const script of scripts()) mount(script);
})();
