/* Shared helpers of the Sovereign pages: JSON calls to the API and safe DOM building (text only, never HTML). */
"use strict";

window.Sv = (function () {
  /** Call the JSON API; resolves to {ok, status, data} and never throws for HTTP errors. */
  async function api(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, data: { error: "The server could not be reached: " + error.message } };
    }
    if (response.status === 401) {
      const here = window.location.pathname + window.location.search;
      window.location.assign("/login?return_to=" + encodeURIComponent(here));
    }
    let data = {};
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        data = { error: "Unexpected answer from the server (HTTP " + response.status + ")" };
      }
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  /** The error message of an API answer, with the first validation detail when there is one. */
  function errorText(result) {
    const data = result.data || {};
    let message = data.error || "Request failed (HTTP " + result.status + ")";
    if (Array.isArray(data.details) && data.details.length > 0) {
      const first = data.details[0];
      message += ": " + (first.field ? first.field + " " : "") + (first.message || "");
    }
    return message;
  }

  /** Build an element; `props` sets properties (className, textContent, href, ...) and `dataset` entries. */
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else node[key] = value;
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attributes) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    return node;
  }

  function setStatus(node, text, kind) {
    if (!node) return;
    node.textContent = text || "";
    node.classList.toggle("error", kind === "error");
    node.classList.toggle("ok", kind === "ok");
  }

  /** "a, b,,c" -> ["a", "b", "c"] */
  function splitTags(text) {
    return String(text || "")
      .split(",")
      .map(function (tag) { return tag.trim(); })
      .filter(function (tag) { return tag.length > 0; });
  }

  /** Only plain web links are followed; `javascript:` and friends are refused. */
  function safeUrl(value) {
    if (typeof value !== "string" || value === "") return null;
    try {
      const url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  /** A CSS colour we are willing to apply: #rgb, #rrggbb(aa) or a plain colour name. */
  function safeColor(value) {
    return typeof value === "string" && /^(#[0-9a-f]{3,8}|[a-z]{3,20})$/i.test(value.trim()) ? value.trim() : null;
  }

  /** The visible text of an HTML fragment, read in an inert document (no scripts run, nothing loads). */
  function htmlToText(html) {
    if (typeof html !== "string" || html === "") return "";
    const doc = new DOMParser().parseFromString(html, "text/html");
    return (doc.body.textContent || "").replace(/\s+/g, " ").trim();
  }

  return {
    api: api,
    errorText: errorText,
    el: el,
    svg: svg,
    setStatus: setStatus,
    splitTags: splitTags,
    safeUrl: safeUrl,
    safeColor: safeColor,
    htmlToText: htmlToText,
  };
})();
