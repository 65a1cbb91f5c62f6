// replyguard's moderator page: the queue, decisions, undo, claims, live updates, history,
// the comments' authors (their record, comments and sanctions), the policy editor and its
// calibration suggestions. Plain DOM, no framework, no build step. Text that readers wrote is
// only ever set as textContent or as a text node: it is never parsed as HTML.
(() => {
  "use strict";

  const body = document.body;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const me = body.dataset.user || "";

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  let sessionOver = false;

  // Every call carries the page's CSRF token; the session cookie goes along by itself.
  async function api(method, path, data, options = {}) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (options.background) headers["X-Replyguard-Background"] = "1";
    const init = { method, headers, credentials: "same-origin" };
    if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => null);
    if (response.status === 401) sessionEnded();
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  function sessionEnded() {
    if (sessionOver) return;
    sessionOver = true;
    const note = document.createElement("p");
    note.className = "alert session-ended";
    note.setAttribute("role", "alert");
    note.append("Your session has ended. ");
    const link = document.createElement("a");
    link.href = "/moderate/sign-in?note=ended&next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "Sign in again";
    note.append(link);
    document.querySelector("main").prepend(note);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function problemText(error) {
    if (error instanceof ApiError && error.problem && Array.isArray(error.problem.errors)) {
      return error.problem.errors.map((e) => `${e.field}: ${e.problem}`).join("; ");
    }
    return error.message || String(error);
  }

  // Only http(s) links become links; anything else (javascript:, data:) stays text.
  function safeHref(url) {
    if (typeof url !== "string") return null;
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function since(iso) {
    return duration((Date.now() - Date.parse(iso)) / 1000);
  }

  const LABEL_NAMES = (s) => String(s).replace(/_/g, " ");

  // --- the queue ---------------------------------------------------------------------------

  function queuePage() {
    const data = body.dataset;
    const filters = {
      site: data.site || "",
      status: data.status || "held",
      order: data.order || "oldest",
      label: data.label || "",
      article: data.article || "",
    };
    const pollSeconds = Math.max(Number(data.poll) || 3, 0.2);
    const list = document.getElementById("queue");
    const template = document.getElementById("item-template");
    const selectAll = document.getElementById("select-all");
    const selectedCount = document.getElementById("selected-count");
    const bulkApprove = document.getElementById("bulk-approve");
    const bulkReject = document.getElementById("bulk-reject");
    const reasonInput = document.getElementById("reason");
    const more = document.getElementById("more");
    const empty = document.getElementById("empty");
    const liveNote = document.getElementById("live-note");
    const toast = document.getElementById("toast");
    const toastText = document.getElementById("toast-text");
    const undoButton = document.getElementById("undo");
    const help = document.getElementById("help");
    const history = document.getElementById("history");
    const historyList = document.getElementById("history-list");
    const counts = document.getElementById("counts");
    const articleList = document.getElementById("articles");
    const banDialog = document.getElementById("ban");
    const banForm = document.getElementById("ban-form");
    const banTitle = document.getElementById("ban-title");
    const banWho = document.getElementById("ban-who");
    const banReason = document.getElementById("ban-reason");
    const banConfirm = document.getElementById("ban-confirm");
    const authorDialog = document.getElementById("author");

    const items = new Map(); // id -> { comment, node }
    const selected = new Set();
    const seenAudit = new Set();
    let claims = new Map(); // comment id -> holder
    let current = null;
    let cursor = null;
    let changesSince = null;
    let lastAction = null;
    let claimTimer = null;
    let claimedAt = 0;
    const articleSites = new Map();

    // -- drawing one comment --

    function matchedTerms(explanation) {
      const terms = new Map();
      const matched = (explanation && explanation.matched_terms) || {};
      for (const kind of ["watched", "blocked"]) {
        for (const term of matched[kind] || []) terms.set(String(term).toLowerCase(), kind);
      }
      return terms;
    }

    // The terms matched on the normalised text; shown where they occur in what was written.
    function fillHighlighted(container, text, terms) {
      container.textContent = "";
      if (!terms.size) {
        container.textContent = text;
        return;
      }
      const pattern = [...terms.keys()]
        .sort((a, b) => b.length - a.length)
        .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+"))
        .join("|");
      const re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${pattern})(?![\\p{L}\\p{N}_])`, "giu");
      let last = 0;
      for (const match of text.matchAll(re)) {
        if (match.index > last) container.append(text.slice(last, match.index));
        const kind = terms.get(match[0].toLowerCase().replace(/\s+/g, " ")) || "watched";
        const mark = el("mark", `term ${kind}`, match[0]);
        mark.title = `${kind} term`;
        container.append(mark);
        last = match.index + match[0].length;
      }
      if (last < text.length) container.append(text.slice(last));
    }

    function bar(row) {
      const li = el("li", `bar outcome-${row.outcome}`);
      li.append(el("span", "bar-label", LABEL_NAMES(row.label)));
      const track = el("span", "track");
      track.setAttribute("aria-hidden", "true");
      const fill = el("span", "fill");
      fill.style.width = `${Math.round((row.score || 0) * 1000) / 10}%`;
      track.append(fill);
      for (const [name, value] of [["hold", row.hold_at], ["reject", row.reject_at]]) {
        if (value === null || value === undefined) continue;
        const tick = el("span", `tick tick-${name}`);
        tick.style.left = `${value * 100}%`;
        tick.title = `${name} at ${value}`;
        track.append(tick);
      }
      li.append(track);
      const score = row.score === null || row.score === undefined ? "not scored" : row.score.toFixed(2);
      const limits = [];
      if (row.hold_at !== null && row.hold_at !== undefined) limits.push(`hold ${row.hold_at}`);
      if (row.reject_at !== null && row.reject_at !== undefined) limits.push(`reject ${row.reject_at}`);
      const verdict = { reject: " · rejects", hold: " · holds", pass: "", not_scored: "" }[row.outcome] || "";
      li.append(el("span", "bar-value", `${score}${limits.length ? ` (${limits.join(", ")})` : ""}${verdict}`));
      return li;
    }

    function draw(comment) {
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.id = comment.id;
      node.id = `c-${comment.id}`;
      const q = (selector) => node.querySelector(selector);
      q(".author").textContent = comment.author_name;
      drawAuthor(node, comment);
      // The article is named by its id, the one name readers cannot choose freely; the
      // service gives its link only on the site's own origins. The title came from a
      // reader's page, so it is shown apart, as plain text, and says so.
      const article = q(".article");
      article.textContent = (comment.article && comment.article.id) || "";
      const title = q(".article-title");
      title.hidden = !(comment.article && comment.article.title);
      if (!title.hidden) {
        title.textContent = `“${comment.article.title}” (title sent by a reader's page)`;
      }
      const href = comment.article && safeHref(comment.article.url);
      if (href) {
        article.href = href;
        article.target = "_blank";
      } else {
        article.removeAttribute("href");
      }
      q(".site").textContent = comment.site_id;
      q(".status-badge").textContent = comment.status;
      q(".status-badge").dataset.status = comment.status;
      const waited = q(".waited");
      waited.dataset.since = comment.created_at;
      waited.textContent = `waited ${since(comment.created_at)}`;
      if (comment.parent) {
        const parent = q(".parent");
        parent.hidden = false;
        q(".parent-label").textContent = `In reply to ${comment.parent.author_name} (${comment.parent.status}):`;
        const text = comment.parent.body.length > 400 ? `${comment.parent.body.slice(0, 400)}…` : comment.parent.body;
        q(".parent-body").textContent = text;
      }
      const explanation = comment.explanation;
      fillHighlighted(q(".body"), comment.body, matchedTerms(explanation));
      const rule = q(".rule");
      const bars = q(".bars");
      if (explanation) {
        const ruleName = LABEL_NAMES(explanation.rule);
        const reason = String(explanation.reason || "");
        rule.append(el("strong", null, `${explanation.verdict || comment.status} by rule “${ruleName}”`));
        rule.append(`: ${reason.startsWith(`${ruleName}: `) ? reason.slice(ruleName.length + 2) : reason}`);
        const rows = explanation.labels || [];
        for (const row of rows) if (row.score !== null && row.score !== undefined) bars.append(bar(row));
        const model = explanation.model || {};
        const links = explanation.links || {};
        const parts = [`model ${model.name}@${model.version}`, `policy v${explanation.policy_version} (${explanation.policy_source})`];
        const unscored = rows.filter((row) => row.score === null || row.score === undefined);
        if (unscored.length) parts.push(`not scored by this model: ${unscored.map((row) => LABEL_NAMES(row.label)).join(", ")}`);
        if (links.count) parts.push(`${links.count} links (limit ${links.max === null ? "none" : links.max})`);
        q(".meta").textContent = parts.join(" · ");
      } else {
        rule.textContent = comment.status_reason || "Not scored yet.";
      }
      const who = comment.author_name;
      q(".select").setAttribute("aria-label", `Select the comment by ${who}`);
      q(".act-approve").setAttribute("aria-label", `Approve the comment by ${who}`);
      q(".act-reject").setAttribute("aria-label", `Reject the comment by ${who}`);
      q(".act-history").setAttribute("aria-label", `History of the comment by ${who}`);
      // A comment rejected already leaves only its author to ban.
      const rejected = comment.status === "rejected";
      q(".act-ban").firstChild.textContent = rejected ? "Ban author " : "Reject and ban ";
      q(".act-ban").setAttribute("aria-label", rejected ? `Ban ${who}, the author of this comment` : `Reject the comment by ${who} and ban its author`);
      q(".act-author").setAttribute("aria-label", `About ${who}: history, comments, sanction`);
      q(".act-approve").hidden = comment.status === "approved";
      q(".act-reject").hidden = comment.status === "rejected";
      q(".act-ban").hidden = q(".act-author").hidden = !comment.author;
      node.setAttribute("aria-label", `Comment by ${who}`);
      return node;
    }

    // The author as the queue item carries it: their name, whether the site's sign-in
    // vouches for them, and their record on this site.
    function drawAuthor(node, comment) {
      const author = comment.author;
      node.querySelector(".verified").hidden = !(author && author.verified);
      const counts = node.querySelector(".author-counts");
      const history = author && author.history;
      counts.textContent = history ? `${history.approved} approved · ${history.rejected} rejected · ${history.held} held` : "";
      counts.title = history ? "Their comments on this site" : "";
      showSanction(node, bans.get(authorKey(comment)) || null);
    }

    function authorKey(comment) {
      return comment.author ? `${comment.site_id}/${comment.author.id}` : "";
    }

    // Sanctions given or lifted from this page show on every item of that author.
    const bans = new Map(); // "site/author id" -> sanction kind
    function showSanction(node, kind) {
      const badge = node.querySelector(".sanction-badge");
      badge.hidden = !kind;
      badge.textContent = kind === "ban" ? "banned" : kind === "suspend" ? "suspended" : "";
    }

    function markAuthor(site, authorId, kind) {
      const key = `${site}/${authorId}`;
      if (kind) bans.set(key, kind);
      else bans.delete(key);
      for (const { comment, node } of items.values()) if (authorKey(comment) === key) showSanction(node, kind);
    }

    function sortKey(comment) {
      if (filters.order === "oldest") return Date.parse(comment.created_at);
      const scores = comment.scores || {};
      if (filters.label) return -(scores[filters.label] || 0);
      return -Math.max(0, ...Object.values(scores).map(Number));
    }

    function add(comment, { sorted = false } = {}) {
      if (items.has(comment.id)) return;
      const node = draw(comment);
      items.set(comment.id, { comment, node });
      if (sorted) {
        const key = sortKey(comment);
        for (const other of list.children) {
          const entry = items.get(other.dataset.id);
          if (entry && sortKey(entry.comment) > key) {
            list.insertBefore(node, other);
            showClaim(comment.id);
            return;
          }
        }
      }
      list.append(node);
      showClaim(comment.id);
    }

    function remove(id) {
      const entry = items.get(id);
      if (!entry) return;
      if (current === id) current = null;
      entry.node.remove();
      items.delete(id);
      selected.delete(id);
      updateSelection();
      empty.hidden = items.size > 0;
    }

    function ids() {
      return [...list.children].map((node) => node.dataset.id);
    }

    // -- loading --

    function queueUrl(after) {
      const params = new URLSearchParams({ status: filters.status, order: filters.order, limit: "50" });
      if (filters.label) params.set("label", filters.label);
      if (after) params.set("cursor", after);
      if (filters.site) params.set("site", filters.site);
      if (filters.article) params.set("article", filters.article);
      return `/v1/queue?${params}`;
    }

    async function load(after) {
      try {
        const page = await api("GET", queueUrl(after));
        if (!after) {
          list.textContent = "";
          items.clear();
          selected.clear();
          current = null;
        }
        for (const comment of page.items) add(comment);
        cursor = page.next_cursor;
        more.hidden = !cursor;
        empty.hidden = items.size > 0;
        updateSelection();
        if (!current && list.firstElementChild) setCurrent(list.firstElementChild.dataset.id, { claim: false, focus: false });
      } catch (error) {
        liveNote.textContent = `Could not load the queue: ${problemText(error)}`;
      }
    }

    // -- the current comment, selection and claims --

    function setCurrent(id, { claim = true, focus = true } = {}) {
      const entry = items.get(id);
      if (!entry) return;
      if (current && items.has(current)) items.get(current).node.classList.remove("current");
      current = id;
      entry.node.classList.add("current");
      if (focus) {
        entry.node.focus({ preventScroll: true });
        entry.node.scrollIntoView({ block: "nearest" });
      }
      if (claim) claimSoon(id);
    }

    function move(step) {
      const order = ids();
      if (!order.length) return;
      const at = order.indexOf(current);
      const next = at < 0 ? 0 : Math.min(Math.max(at + step, 0), order.length - 1);
      setCurrent(order[next]);
    }

    function claimSoon(id) {
      clearTimeout(claimTimer);
      claimTimer = setTimeout(() => claim(id), 200);
    }

    async function claim(id) {
      if (!items.has(id) || sessionOver) return;
      try {
        const answer = await api("POST", "/v1/claims", { comment_id: id });
        claimedAt = Date.now();
        claims.set(answer.comment_id, answer.holder);
        showClaim(answer.comment_id);
        if (!answer.mine) liveNote.textContent = `${answer.holder} is already reviewing this comment.`;
      } catch {
        // A claim is a courtesy to others; failing to take one blocks nothing.
      }
    }

    function showClaim(id) {
      const entry = items.get(id);
      if (!entry) return;
      const holder = claims.get(id);
      const badge = entry.node.querySelector(".claim");
      const other = Boolean(holder) && holder !== me;
      badge.hidden = !other;
      badge.textContent = other ? `${holder} is reviewing` : "";
      entry.node.classList.toggle("claimed-by-other", other);
    }

    function applyClaims(list_) {
      claims = new Map(list_.map((c) => [c.comment_id, c.holder]));
      for (const id of items.keys()) showClaim(id);
    }

    function select(id, on) {
      const entry = items.get(id);
      if (!entry) return;
      if (on) selected.add(id);
      else selected.delete(id);
      entry.node.querySelector(".select").checked = on;
      entry.node.classList.toggle("selected", on);
      updateSelection();
    }

    function updateSelection() {
      const n = selected.size;
      selectedCount.textContent = `${n} selected`;
      bulkApprove.disabled = bulkReject.disabled = n === 0;
      const selectable = [...items.keys()].filter((id) => !heldByOther(id)).length;
      selectAll.checked = n > 0 && n >= selectable;
      selectAll.indeterminate = n > 0 && n < selectable;
    }

    function heldByOther(id) {
      const holder = claims.get(id);
      return Boolean(holder) && holder !== me;
    }

    // Select all skips what another moderator has open.
    function selectEverything(on) {
      for (const id of items.keys()) select(id, on && !heldByOther(id));
    }

    // -- decisions and undo --

    function showToast(text, undoable) {
      toastText.textContent = text;
      undoButton.hidden = !undoable;
      toast.hidden = false;
    }

    // With ban (one comment only), its author is banned once the rejection is saved.
    async function decide(targets, action, { reason: given, ban = false } = {}) {
      const chosen = targets.filter((id) => items.has(id));
      if (!chosen.length) return;
      const reason = given || reasonInput.value.trim() || undefined;
      const comment = items.get(chosen[0]).comment;
      const previous = new Map(chosen.map((id) => [id, items.get(id).comment.status]));
      const verdict = action === "approve" ? "approved" : "rejected";
      for (const id of chosen) items.get(id).node.classList.add("busy");
      try {
        let decided;
        if (chosen.length === 1) {
          const one = await api("POST", `/v1/comments/${chosen[0]}/decision`, { action, reason });
          decided = [one.id];
        } else {
          const many = await api("POST", "/v1/decisions", { ids: chosen, action, reason });
          decided = many.items.map((i) => i.id);
        }
        const order = ids();
        const after = order.slice(order.indexOf(chosen[chosen.length - 1]) + 1).find((id) => !decided.includes(id));
        const before = order.slice(0, order.indexOf(chosen[0])).reverse().find((id) => !decided.includes(id));
        for (const id of decided) {
          if (filters.status !== verdict) remove(id);
        }
        lastAction = { ids: decided, previous, verdict };
        reasonInput.value = "";
        const n = decided.length;
        let done = `${verdict === "approved" ? "Approved" : "Rejected"} ${n} comment${n === 1 ? "" : "s"}.`;
        if (ban) done = await banAfterReject(comment, reason, done);
        showToast(done, true);
        const next = after || before;
        if (next) setCurrent(next);
        refreshSummary();
      } catch (error) {
        for (const id of chosen) if (items.has(id)) items.get(id).node.classList.remove("busy");
        showToast(`Not saved: ${problemText(error)}`, false);
      }
    }

    async function banAfterReject(comment, reason, done) {
      try {
        await api("POST", sanctionsPath(comment.site_id, comment.author.id), { kind: "ban", reason });
        lastAction.banned = { site: comment.site_id, authorId: comment.author.id };
        markAuthor(comment.site_id, comment.author.id, "ban");
        return `Rejected the comment and banned ${comment.author_name}.`;
      } catch (error) {
        return `${done} The ban was not saved: ${problemText(error)}`;
      }
    }

    async function undo() {
      const action = lastAction;
      if (!action) return;
      lastAction = null;
      if (action.banned) {
        try {
          await api("DELETE", sanctionsPath(action.banned.site, action.banned.authorId));
          markAuthor(action.banned.site, action.banned.authorId, null);
        } catch (error) {
          showToast(`Undo failed: the ban stays: ${problemText(error)}`, false);
          return;
        }
      }
      const groups = new Map();
      for (const id of action.ids) {
        const was = action.previous.get(id);
        const key = was === "approved" || was === "rejected" ? was : "held";
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(id);
      }
      try {
        for (const [status, group] of groups) {
          if (status === "held") await api("POST", "/v1/decisions/reopen", { ids: group, reason: "undo" });
          else await api("POST", "/v1/decisions", { ids: group, action: status === "approved" ? "approve" : "reject", reason: "undo" });
        }
        for (const id of action.ids) {
          const comment = await api("GET", `/v1/comments/${id}`);
          if (comment.status === filters.status) add(comment, { sorted: true });
        }
        empty.hidden = items.size > 0;
        const n = action.ids.length;
        const lifted = action.banned ? " The ban is lifted." : "";
        showToast(`Undone: ${n} comment${n === 1 ? "" : "s"} back.${lifted}`, false);
        if (items.has(action.ids[0])) setCurrent(action.ids[0]);
        refreshSummary();
      } catch (error) {
        showToast(`Undo failed: ${problemText(error)}`, false);
      }
    }

    // -- history --

    async function showHistory(id) {
      if (!id) return;
      historyList.textContent = "";
      history.showModal();
      try {
        const audit = await api("GET", `/v1/comments/${id}/audit`);
        for (const entry of audit.items) {
          const li = el("li");
          li.append(el("time", null, new Date(entry.at).toLocaleString()));
          li.append(` ${entry.actor.kind} ${entry.actor.name}: `);
          li.append(el("strong", null, `${entry.from_status || "new"} → ${entry.to_status}`));
          if (entry.reason) li.append(` (${entry.reason})`);
          historyList.append(li);
        }
      } catch (error) {
        historyList.append(el("li", "alert", problemText(error)));
      }
    }

    // -- reject and ban --

    function authorPath(site, authorId) {
      return `/v1/sites/${encodeURIComponent(site)}/authors/${encodeURIComponent(authorId)}`;
    }

    function sanctionsPath(site, authorId) {
      return `${authorPath(site, authorId)}/sanctions`;
    }

    // What the ban dialog acts on: a comment to reject first, or (from the author panel)
    // just an author.
    let banTarget = null;

    function openBan(id) {
      const entry = id && items.get(id);
      if (!entry || !entry.comment.author) return;
      const comment = entry.comment;
      const rejected = comment.status === "rejected";
      banTarget = { id: rejected ? null : id, site: comment.site_id, authorId: comment.author.id, name: comment.author_name };
      banWho.textContent = rejected
        ? `Ban ${comment.author_name} from ${comment.site_id}.`
        : `Reject this comment by ${comment.author_name} and ban them from ${comment.site_id}.`;
      banTitle.textContent = banConfirm.textContent = rejected ? "Ban" : "Reject and ban";
      showBan();
    }

    function showBan() {
      banReason.value = reasonInput.value.trim();
      banDialog.showModal();
      banReason.focus();
    }

    banForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = banReason.value.trim();
      if (!reason) {
        banReason.setCustomValidity("Say why: the reason is kept with the ban.");
        banReason.reportValidity();
        return;
      }
      const target = banTarget;
      banDialog.close();
      if (!target) return;
      if (target.id) {
        await decide([target.id], "reject", { reason, ban: true });
        return;
      }
      try {
        await api("POST", sanctionsPath(target.site, target.authorId), { kind: "ban", reason });
        markAuthor(target.site, target.authorId, "ban");
        showToast(`Banned ${target.name}.`, false);
      } catch (error) {
        showToast(`Not banned: ${problemText(error)}`, false);
      }
      if (authorDialog.open) loadAuthor();
    });
    banReason.addEventListener("input", () => banReason.setCustomValidity(""));
    document.getElementById("ban-cancel").addEventListener("click", () => banDialog.close());
    banDialog.addEventListener("close", () => {
      banTarget = null;
      if (!authorDialog.open && current && items.has(current)) items.get(current).node.focus({ preventScroll: true });
    });

    // -- an author's panel --

    const panel = {
      title: document.getElementById("author-title"),
      meta: document.getElementById("author-meta"),
      history: document.getElementById("author-history"),
      sanction: document.getElementById("author-sanction-text"),
      lift: document.getElementById("author-lift"),
      ban: document.getElementById("author-ban"),
      comments: document.getElementById("author-comments"),
      more: document.getElementById("author-more"),
    };
    let shownAuthor = null; // { site, authorId, name, cursor }

    function openAuthor(id) {
      const entry = id && items.get(id);
      if (!entry || !entry.comment.author) return;
      const comment = entry.comment;
      shownAuthor = { site: comment.site_id, authorId: comment.author.id, name: comment.author_name, cursor: null };
      panel.title.textContent = comment.author_name;
      authorDialog.showModal();
      loadAuthor();
    }

    function when(iso) {
      return iso ? new Date(iso).toLocaleString() : "unknown";
    }

    function sanctionText(sanction) {
      const by = sanction.by && typeof sanction.by === "object" ? sanction.by.name : sanction.by;
      const what = sanction.kind === "ban" ? "Banned" : `Suspended until ${when(sanction.until)}`;
      return `${what} by ${by || "a moderator"} on ${when(sanction.at)}: ${sanction.reason || "no reason given"}`;
    }

    async function loadAuthor() {
      const shown = shownAuthor;
      if (!shown) return;
      for (const part of [panel.meta, panel.history, panel.sanction, panel.comments]) part.textContent = "";
      panel.lift.hidden = panel.ban.hidden = panel.more.hidden = true;
      try {
        const author = await api("GET", authorPath(shown.site, shown.authorId));
        if (shownAuthor !== shown) return;
        drawAuthorPanel(author);
        shown.cursor = null;
        await loadAuthorComments();
      } catch (error) {
        panel.meta.textContent = `Could not load the author: ${problemText(error)}`;
      }
    }

    function drawAuthorPanel(author) {
      panel.title.textContent = author.verified ? `${author.name} (verified)` : author.name;
      panel.meta.textContent = `On ${shownAuthor.site} · first seen ${when(author.first_seen)} · last seen ${when(author.last_seen)} · id ${author.id}`;
      for (const status of ["approved", "rejected", "held", "pending"]) {
        const li = el("li", `history-${status}`);
        li.append(el("b", null, author.history[status]), ` ${status}`);
        panel.history.append(li);
      }
      const sanction = author.sanction;
      panel.sanction.textContent = sanction ? sanctionText(sanction) : "No sanction.";
      panel.lift.hidden = !sanction;
      panel.ban.hidden = Boolean(sanction);
      if (sanction) panel.lift.setAttribute("aria-label", `Lift the ${sanction.kind} on ${author.name}`);
      markAuthor(shownAuthor.site, shownAuthor.authorId, sanction ? sanction.kind : null);
    }

    async function loadAuthorComments() {
      const shown = shownAuthor;
      const params = new URLSearchParams({ limit: "10" });
      if (shown.cursor) params.set("cursor", shown.cursor);
      try {
        const page = await api("GET", `${authorPath(shown.site, shown.authorId)}/comments?${params}`);
        if (shownAuthor !== shown) return;
        for (const comment of page.items) panel.comments.append(authorComment(comment));
        if (!panel.comments.children.length) panel.comments.append(el("li", "note", "No comments."));
        shown.cursor = page.next_cursor;
        panel.more.hidden = !shown.cursor;
      } catch (error) {
        panel.comments.append(el("li", "alert", `Could not load their comments: ${problemText(error)}`));
      }
    }

    function authorComment(comment) {
      const li = el("li");
      const head = el("p", "author-comment-head");
      const badge = el("span", "status-badge", comment.status);
      badge.dataset.status = comment.status;
      const article = (comment.article && comment.article.id) || comment.article_id || "";
      head.append(badge, ` ${when(comment.created_at)} on ${article}`);
      const text = String(comment.body || "");
      li.append(head, el("p", "author-comment-body", text.length > 300 ? `${text.slice(0, 300)}…` : text));
      return li;
    }

    panel.more.addEventListener("click", loadAuthorComments);
    panel.lift.addEventListener("click", async () => {
      const shown = shownAuthor;
      if (!shown) return;
      try {
        const answer = await api("DELETE", sanctionsPath(shown.site, shown.authorId));
        markAuthor(shown.site, shown.authorId, null);
        showToast(answer && answer.lifted ? `Lifted the sanction on ${shown.name}.` : `${shown.name} had no sanction.`, false);
      } catch (error) {
        showToast(`Not lifted: ${problemText(error)}`, false);
      }
      await loadAuthor();
      panel.ban.focus();
    });
    panel.ban.addEventListener("click", () => {
      const shown = shownAuthor;
      if (!shown) return;
      banTarget = { id: null, site: shown.site, authorId: shown.authorId, name: shown.name };
      banWho.textContent = `Ban ${shown.name} from ${shown.site}.`;
      banTitle.textContent = banConfirm.textContent = "Ban";
      showBan();
    });
    authorDialog.addEventListener("close", () => {
      shownAuthor = null;
    });

    // -- counts and live updates --

    async function refreshSummary() {
      const params = new URLSearchParams({ status: filters.status });
      if (filters.site) params.set("site", filters.site);
      if (filters.article) params.set("article", filters.article);
      try {
        const summary = await api("GET", `/v1/queue/summary?${params}`, undefined, { background: true });
        counts.textContent = "";
        const labels = { pending: "Pending", held: "Held", approved: "Approved (24 h)", rejected: "Rejected (24 h)" };
        for (const status of ["pending", "held", "approved", "rejected"]) {
          const li = el("li", status === filters.status ? "active" : "");
          const link = el("a");
          const target = new URLSearchParams(location.search);
          target.set("status", status);
          link.href = `/moderate?${target}`;
          if (status === filters.status) link.setAttribute("aria-current", "page");
          link.append(el("span", "count-label", labels[status]));
          link.append(el("b", `count count-${status}`, summary.counts[status]));
          const oldest = summary.oldest_seconds[status];
          if (oldest !== undefined && oldest !== null) link.append(el("span", "oldest", `oldest ${duration(oldest)}`));
          li.append(link);
          counts.append(li);
        }
        articleList.textContent = "";
        articleSites.clear();
        for (const article of summary.articles) {
          articleSites.set(article.id, article.site_id);
          const option = el("option");
          option.value = article.id;
          const title = article.title ? ` “${article.title}” (reader-supplied title)` : "";
          option.label = `${article.id}${title} · ${article.waiting} waiting`;
          articleList.append(option);
        }
      } catch {
        // Counts come back with the next poll.
      }
    }

    function fits(change) {
      if (filters.site && change.site_id !== filters.site) return false;
      if (filters.article && change.article_id !== filters.article) return false;
      return change.status === filters.status;
    }

    function firesLabel(comment) {
      if (!filters.label) return true;
      const rows = (comment.explanation && comment.explanation.labels) || [];
      return rows.some((r) => r.label === filters.label && (r.outcome === "hold" || r.outcome === "reject"));
    }

    async function applyChange(change) {
      const entry = items.get(change.comment_id);
      if (entry) {
        if (change.status !== filters.status) {
          const by = change.actor.name;
          remove(change.comment_id);
          if (by !== me) liveNote.textContent = `${by} ${change.status} a comment by ${entry.comment.author_name}.`;
        }
        return;
      }
      if (!fits(change)) return;
      const comment = await api("GET", `/v1/comments/${change.comment_id}`, undefined, { background: true });
      if (comment.status !== filters.status || !firesLabel(comment)) return;
      // With more pages to load, a comment that sorts after the last loaded one waits for
      // "Load more", so the list never shows a gap.
      const lastNode = list.lastElementChild;
      if (cursor && lastNode && sortKey(comment) > sortKey(items.get(lastNode.dataset.id).comment)) return;
      add(comment, { sorted: true });
      empty.hidden = true;
      if (!current) setCurrent(comment.id, { claim: false, focus: false });
    }

    async function poll() {
      if (sessionOver) return;
      try {
        const params = new URLSearchParams();
        if (filters.site) params.set("site", filters.site);
        if (changesSince) params.set("since", changesSince);
        const answer = await api("GET", `/v1/changes?${params}`, undefined, { background: true });
        changesSince = answer.now;
        const latest = new Map();
        for (const change of answer.items) {
          if (seenAudit.has(change.audit_id)) continue;
          seenAudit.add(change.audit_id);
          latest.set(change.comment_id, change);
        }
        if (seenAudit.size > 20000) seenAudit.clear();
        for (const change of latest.values()) await applyChange(change);
        applyClaims(answer.claims);
        if (current && claims.get(current) === me && Date.now() - claimedAt > 60000) claim(current);
        if (latest.size) refreshSummary();
      } catch {
        // The next poll tries again.
      } finally {
        if (!sessionOver) setTimeout(poll, pollSeconds * 1000);
      }
    }

    // Ages move on by themselves: redraw them, and the counts' oldest wait, twice a minute.
    setInterval(() => {
      for (const node of list.querySelectorAll(".waited")) node.textContent = `waited ${since(node.dataset.since)}`;
      if (!sessionOver) refreshSummary();
    }, 30000);

    // -- wiring --

    list.addEventListener("click", (event) => {
      const node = event.target.closest(".item");
      if (!node) return;
      const id = node.dataset.id;
      if (event.target.closest(".act-approve")) decide([id], "approve");
      else if (event.target.closest(".act-reject")) decide([id], "reject");
      else if (event.target.closest(".act-history")) showHistory(id);
      else if (event.target.closest(".act-ban")) openBan(id);
      else if (event.target.closest(".act-author")) openAuthor(id);
      else if (event.target.closest(".select")) select(id, event.target.checked);
      else if (!event.target.closest("a")) setCurrent(id);
    });
    selectAll.addEventListener("change", () => selectEverything(selectAll.checked));
    bulkApprove.addEventListener("click", () => decide([...selected], "approve"));
    bulkReject.addEventListener("click", () => decide([...selected], "reject"));
    undoButton.addEventListener("click", undo);
    more.addEventListener("click", () => load(cursor));
    document.getElementById("help-button").addEventListener("click", () => help.showModal());

    document.getElementById("filters").addEventListener("submit", (event) => {
      const form = new FormData(event.target);
      const article = String(form.get("article") || "").trim();
      if (article && !form.get("site") && articleSites.has(article)) {
        event.preventDefault();
        const params = new URLSearchParams(form);
        params.set("site", articleSites.get(article));
        location.assign(`/moderate?${params}`);
      }
    });

    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      const typing = target.closest && target.closest("input:not([type=checkbox]), textarea, select, [contenteditable]");
      if (typing || document.querySelector("dialog[open]")) return;
      const actions = {
        j: () => move(1),
        k: () => move(-1),
        a: () => current && decide([current], "approve"),
        r: () => current && decide([current], "reject"),
        x: () => current && select(current, !selected.has(current)),
        A: () => decide([...selected], "approve"),
        R: () => decide([...selected], "reject"),
        u: () => undo(),
        h: () => showHistory(current),
        b: () => openBan(current),
        p: () => openAuthor(current),
        "?": () => help.showModal(),
      };
      const action = actions[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    });

    // Leaving the page hands back the open comment at once rather than when the claim lapses.
    addEventListener("pagehide", () => {
      if (current && claims.get(current) === me) {
        fetch(`/v1/claims/${current}`, { method: "DELETE", keepalive: true, headers: { "X-CSRF-Token": csrf } });
      }
    });

    load(null);
    refreshSummary();
    poll();
  }

  // --- a site's policy -----------------------------------------------------------------------

  function sitePage() {
    const form = document.getElementById("policy-form");
    if (!form) return;
    const site = body.dataset.site;
    const result = document.getElementById("policy-result");

    function lines(value) {
      return String(value || "")
        .split("\n")
        .map((t) => t.trim())
        .filter(Boolean);
    }

    function number(value) {
      const text = String(value ?? "").trim();
      return text === "" ? null : Number(text);
    }

    function policy() {
      const data = new FormData(form);
      const thresholds = {};
      for (const input of form.querySelectorAll("input[name^='hold_at.']")) {
        const label = input.name.slice("hold_at.".length);
        thresholds[label] = { hold_at: number(data.get(`hold_at.${label}`)), reject_at: number(data.get(`reject_at.${label}`)) };
      }
      // The rules the form does not show (reports, backlog, trust, language, threats) keep
      // their current values: the page sends the whole policy.
      const current = JSON.parse(form.dataset.policy || "{}");
      return {
        ...current,
        mode: data.get("mode"),
        thresholds,
        blocked_terms: lines(data.get("blocked_terms")),
        watched_terms: lines(data.get("watched_terms")),
        max_links: number(data.get("max_links")),
      };
    }

    function showError(into, error) {
      into.textContent = "";
      into.append(el("p", "alert", `Not accepted: ${error.message}`));
      if (error instanceof ApiError && error.problem && Array.isArray(error.problem.errors)) {
        const ul = el("ul", "problems");
        for (const e of error.problem.errors) ul.append(el("li", null, `${e.field}: ${e.problem}`));
        into.append(ul);
      }
    }

    const sitePath = `/v1/sites/${encodeURIComponent(site)}`;

    // What the proposed policy would have decided differently among the last decided
    // comments, written into `into`.
    async function preview(into, proposed, last) {
      into.textContent = "Comparing…";
      const answer = await api("POST", `${sitePath}/policy/preview`, { policy: proposed, last });
      into.textContent = "";
      const summary = el(
        "p",
        "preview-summary",
        `${answer.changed} of the last ${answer.considered} decided comments would be decided differently.`,
      );
      into.append(summary);
      if (answer.transitions.length) {
        const ul = el("ul", "transitions");
        for (const t of answer.transitions) ul.append(el("li", null, `${t.from} → ${t.to}: ${t.count}`));
        into.append(ul);
      }
      if (answer.examples.length) {
        const ol = el("ol", "examples");
        for (const example of answer.examples) {
          const li = el("li");
          li.append(el("strong", null, `${example.from} → ${example.to}`), ` (${example.reason}): `);
          li.append(el("q", null, example.body));
          ol.append(li);
        }
        into.append(ol);
      }
    }

    document.getElementById("preview").addEventListener("click", async () => {
      try {
        const last = Number(new FormData(form).get("last")) || 200;
        await preview(result, policy(), last);
      } catch (error) {
        showError(result, error);
      }
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      result.textContent = "Saving…";
      try {
        const current = await api("GET", sitePath);
        const saved = await api("PUT", sitePath, { name: current.name, allowed_origins: current.allowed_origins, policy: policy() });
        result.textContent = "";
        result.append(el("p", "saved", `Saved. Policy version ${saved.policy_version}.`));
      } catch (error) {
        showError(result, error);
      }
    });

    // A calibration suggestion: the saved policy with one label's thresholds changed (not
    // the form's unsaved edits), previewed, then applied in one click. The page reloads to
    // redraw the charts with the new thresholds.
    for (const button of document.querySelectorAll(".calibration-preview")) {
      const label = button.dataset.label;
      const into = button.parentElement.querySelector(".calibration-result");
      const thresholds = { hold_at: number(button.dataset.holdAt), reject_at: number(button.dataset.rejectAt) };
      button.addEventListener("click", async () => {
        try {
          const current = await api("GET", sitePath);
          const proposed = { ...current.policy, thresholds: { ...current.policy.thresholds, [label]: thresholds } };
          await preview(into, proposed, 200);
          const apply = el("button", "approve", `Apply: ${LABEL_NAMES(label)} hold at ${thresholds.hold_at ?? "—"}, reject at ${thresholds.reject_at ?? "—"}`);
          apply.type = "button";
          apply.addEventListener("click", async () => {
            apply.disabled = true;
            try {
              const body = { name: current.name, allowed_origins: current.allowed_origins, policy: proposed, reason: `calibration: ${label}` };
              await api("PUT", sitePath, body);
              location.assign(`${location.pathname}?applied=${encodeURIComponent(label)}#calibration-title`);
            } catch (error) {
              showError(into, error);
            }
          });
          into.append(apply);
        } catch (error) {
          showError(into, error);
        }
      });
    }
  }

  if (body.dataset.page === "queue") queuePage();
  if (body.dataset.page === "site") sitePage();
})();
