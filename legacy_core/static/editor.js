/* The blog post editor: loads a post, saves it (create or update), publishes or deletes it through the API. */
"use strict";

(function () {
  const form = document.getElementById("post-editor");
  if (!form) return;
  const projectId = encodeURIComponent(form.dataset.projectId);
  const file = form.dataset.file;
  const statusLine = document.getElementById("editor-status");
  const badge = document.getElementById("post-status");
  const postsUrl = "/api/projects/" + projectId + "/blog/post";
  const postUrl = file ? postsUrl + "/" + encodeURIComponent(file) : null;
  // Fields only sent when the user changed them, so saving never rewrites a value the form cannot show exactly
  // (a pubDate with a time of day, a post without a `draft` key).
  let loaded = { pubDate: "", draft: false };

  function dateOnly(value) {
    const match = /^\d{4}-\d{2}-\d{2}/.exec(String(value || ""));
    return match ? match[0] : "";
  }

  function fill(post) {
    form.elements.title.value = post.title || "";
    form.elements.description.value = post.description || "";
    form.elements.tags.value = (Array.isArray(post.tags) ? post.tags : []).join(", ");
    form.elements.pubDate.value = dateOnly(post.pubDate);
    form.elements.draft.checked = post.draft === true;
    form.elements.body.value = post.body || "";
    loaded = { pubDate: form.elements.pubDate.value, draft: form.elements.draft.checked };
    if (badge) {
      badge.textContent = post.status || "";
      badge.className = "badge status-" + String(post.status || "").toLowerCase();
      badge.hidden = !post.status;
    }
  }

  function collect() {
    const body = {
      title: form.elements.title.value,
      description: form.elements.description.value,
      tags: Sv.splitTags(form.elements.tags.value),
      body: form.elements.body.value,
    };
    const pubDate = form.elements.pubDate.value;
    if (pubDate !== "" && (!file || pubDate !== loaded.pubDate)) body.pubDate = pubDate;
    const draft = form.elements.draft.checked;
    if (!file ? draft : draft !== loaded.draft) body.draft = draft;
    if (!file && form.elements.file && form.elements.file.value.trim() !== "") body.file = form.elements.file.value.trim();
    return body;
  }

  function busy(flag) {
    for (const button of form.querySelectorAll("button")) button.disabled = flag;
  }

  async function load() {
    const result = await Sv.api("GET", postUrl);
    if (!result.ok || !result.data.post) {
      Sv.setStatus(statusLine, "Could not load the post: " + Sv.errorText(result), "error");
      form.dataset.state = "error";
      return;
    }
    fill(result.data.post);
    Sv.setStatus(statusLine, "");
    form.dataset.state = "ready";
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    busy(true);
    Sv.setStatus(statusLine, "Saving…");
    const result = await Sv.api(file ? "PATCH" : "POST", file ? postUrl : postsUrl, collect());
    busy(false);
    if (!result.ok) {
      Sv.setStatus(statusLine, Sv.errorText(result), "error");
      return;
    }
    const saved = result.data.post || {};
    if (!file || (saved.file && saved.file !== file)) {
      window.location.assign("/projects/" + projectId + "/blog/edit/" + encodeURIComponent(saved.file));
      return;
    }
    fill(saved);
    Sv.setStatus(statusLine, "Saved. Publish to push it to the repository.", "ok");
  });

  const publish = document.getElementById("publish-post");
  if (publish) {
    publish.addEventListener("click", async function () {
      busy(true);
      Sv.setStatus(statusLine, "Publishing…");
      const result = await Sv.api("POST", postUrl);
      busy(false);
      if (!result.ok) {
        Sv.setStatus(statusLine, Sv.errorText(result) + (result.data.hint ? " — " + result.data.hint : ""), "error");
        return;
      }
      await load();
      Sv.setStatus(statusLine, "Published" + (result.data.commit ? " as commit " + String(result.data.commit).slice(0, 10) : "") + ".", "ok");
    });
  }

  const remove = document.getElementById("delete-post");
  if (remove) {
    remove.addEventListener("click", async function () {
      if (!window.confirm("Delete this post? The deletion is committed and pushed to the repository.")) return;
      busy(true);
      Sv.setStatus(statusLine, "Deleting…");
      const result = await Sv.api("DELETE", postUrl);
      busy(false);
      if (!result.ok) {
        Sv.setStatus(statusLine, Sv.errorText(result), "error");
        return;
      }
      if (result.data.warning) window.alert(result.data.warning);
      window.location.assign("/projects/" + projectId + "/blog");
    });
  }

  if (file) load();
})();
