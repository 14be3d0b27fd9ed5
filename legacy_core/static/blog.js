/* The blog page: lists the posts from the API, or offers the repository set-up when the blog is not configured. */
"use strict";

(function () {
  const app = document.getElementById("blog-app");
  if (!app) return;
  const projectId = encodeURIComponent(app.dataset.projectId);
  const canEdit = app.dataset.canEdit === "true";
  const statusLine = document.getElementById("blog-status");
  const postSection = document.getElementById("post-section");
  const configureSection = document.getElementById("configure-section");

  function postRow(post) {
    const editUrl = "/projects/" + projectId + "/blog/edit/" + encodeURIComponent(post.file);
    const title = post.title || post.file;
    const titleCell = Sv.el("td", {}, [
      canEdit ? Sv.el("a", { href: editUrl, textContent: title, className: "post-title" }) : Sv.el("strong", { textContent: title, className: "post-title" }),
      post.description ? Sv.el("p", { className: "muted", textContent: post.description }) : null,
      post.excerpt ? Sv.el("p", { className: "excerpt", textContent: post.excerpt }) : null,
    ]);
    const status = post.status === "Published" ? "Published" : "Draft";
    return Sv.el("tr", { dataset: { file: post.file } }, [
      titleCell,
      Sv.el("td", {}, [Sv.el("span", { className: "badge status-" + status.toLowerCase(), textContent: status })]),
      Sv.el("td", { className: "nowrap", textContent: post.pubDate ? String(post.pubDate).slice(0, 10) : "—" }),
      Sv.el("td", {}, (Array.isArray(post.tags) ? post.tags : []).map(function (tag) {
        return Sv.el("span", { className: "tag", textContent: "#" + tag });
      })),
    ]);
  }

  async function load() {
    app.dataset.state = "loading";
    const result = await Sv.api("GET", "/api/projects/" + projectId + "/blog/post/all");
    if (result.status === 409) {
      postSection.hidden = true;
      configureSection.hidden = false;
      Sv.setStatus(statusLine, "");
      app.dataset.state = "unconfigured";
      return;
    }
    if (!result.ok) {
      Sv.setStatus(statusLine, "Could not load the posts: " + Sv.errorText(result), "error");
      app.dataset.state = "error";
      return;
    }
    const posts = Array.isArray(result.data.posts) ? result.data.posts : [];
    document.getElementById("post-rows").replaceChildren.apply(document.getElementById("post-rows"), posts.map(postRow));
    document.getElementById("no-posts").hidden = posts.length > 0;
    configureSection.hidden = true;
    postSection.hidden = false;
    const newPost = document.getElementById("new-post");
    if (newPost) newPost.hidden = false;
    Sv.setStatus(statusLine, "");
    app.dataset.state = "ready";
  }

  const form = document.getElementById("configure");
  if (form) {
    const formStatus = form.querySelector(".status");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const body = {};
      for (const name of ["repoUrl", "branch", "contentDir", "gitUserName", "gitUserEmail", "gitAuthToken"]) {
        const value = form.elements[name].value.trim();
        if (value !== "" || name !== "gitAuthToken") body[name] = value;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      Sv.setStatus(formStatus, "Cloning the repository…");
      const result = await Sv.api("PATCH", "/api/projects/" + projectId + "/configure", body);
      button.disabled = false;
      if (!result.ok) {
        Sv.setStatus(formStatus, Sv.errorText(result), "error");
        return;
      }
      Sv.setStatus(formStatus, "Connected.", "ok");
      await load();
    });
  }

  load();
})();
