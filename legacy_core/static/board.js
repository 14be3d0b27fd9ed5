/* The PaperTrail board page: draws the board from the API (nodes as cards, edges as SVG lines), adds nodes, and
   imports a bundle (the export is a plain link). */
"use strict";

(function () {
  const app = document.getElementById("board-app");
  if (!app) return;
  const projectId = app.dataset.projectId;
  const boardUrl = "/api/projects/" + encodeURIComponent(projectId) + "/papertrail/board";
  const canvas = document.getElementById("board-canvas");
  const edgeLayer = document.getElementById("board-edges");
  const statusLine = document.getElementById("board-status");
  const PAD = 40;
  const DEFAULT_W = 220;
  const DEFAULT_H = 120;
  const STAT_LABELS = [["nodes", "Nodes"], ["edges", "Edges"], ["comments", "Comments"], ["attachments", "Attachments"], ["tags", "Tags"]];
  const GAP = 24;
  let board = null;
  let selectedTag = null;
  let drawnSizes = new Map(); // node id -> rendered {w, h}: cards grow with their text beyond the stored size

  function num(value, fallback) {
    return typeof value === "number" && isFinite(value) ? value : fallback;
  }

  function nodeCard(node, offsetX, offsetY) {
    const card = Sv.el("article", { className: "node node-" + (node.type || "text"), dataset: { nodeId: node.id } });
    card.style.left = num(node.x, 0) + offsetX + "px";
    card.style.top = num(node.y, 0) + offsetY + "px";
    card.style.width = num(node.w, DEFAULT_W) + "px";
    if (num(node.h, 0) > 0) card.style.minHeight = node.h + "px";
    const color = Sv.safeColor(node.color);
    if (color) card.style.borderTopColor = color;

    card.append(Sv.el("span", { className: "node-type", textContent: node.type || "text" }));
    if (node.title) card.append(Sv.el("h3", { className: "node-title", textContent: node.title }));
    const image = Sv.safeUrl(node.imageUrl);
    if (image) card.append(Sv.el("img", { className: "node-image", src: image, alt: node.title || "", loading: "lazy" }));
    const text = node.text || Sv.htmlToText(node.html);
    if (text) card.append(Sv.el("p", { className: "node-text", textContent: text }));
    const description = Sv.htmlToText(node.descHtml);
    if (description) card.append(Sv.el("p", { className: "node-desc", textContent: description }));
    const link = Sv.safeUrl(node.url);
    if (link) {
      card.append(Sv.el("a", { className: "node-url", href: link, textContent: node.url, target: "_blank", rel: "noopener noreferrer" }));
    }
    const tags = Array.isArray(node.tags) ? node.tags : [];
    if (tags.length > 0) {
      card.append(Sv.el("ul", { className: "node-tags" }, tags.map(function (tag) {
        return Sv.el("li", { className: "tag", textContent: "#" + tag });
      })));
    }
    if (selectedTag !== null && tags.indexOf(selectedTag) < 0) card.classList.add("dim");
    return card;
  }

  function drawEdges(edges, cards, width, height) {
    edgeLayer.replaceChildren();
    edgeLayer.setAttribute("width", width);
    edgeLayer.setAttribute("height", height);
    const defs = Sv.svg("defs");
    const marker = Sv.svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" });
    marker.append(Sv.svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "edge-arrow" }));
    defs.append(marker);
    edgeLayer.append(defs);
    for (const edge of edges) {
      const from = cards.get(edge.source);
      const to = cards.get(edge.target);
      if (!from || !to) continue;
      const a = centre(from);
      const b = centre(to);
      // Draw only the visible stretch between the two cards, so the arrow head and the label are never hidden.
      const start = clipToBox(b, a, from);
      const end = clipToBox(a, b, to);
      const group = Sv.svg("g", { class: "edge", "data-edge-id": edge.id });
      const line = Sv.svg("line", { x1: start.x, y1: start.y, x2: end.x, y2: end.y, "marker-end": "url(#arrow)" });
      const color = Sv.safeColor(edge.color);
      if (color) line.style.stroke = color;
      group.append(line);
      if (edge.label) {
        const label = Sv.svg("text", { x: (start.x + end.x) / 2, y: (start.y + end.y) / 2 - 6, class: "edge-label", "text-anchor": "middle" });
        label.textContent = edge.label;
        group.append(label);
      }
      edgeLayer.append(group);
    }
  }

  function centre(card) {
    return { x: card.offsetLeft + card.offsetWidth / 2, y: card.offsetTop + card.offsetHeight / 2 };
  }

  /** Where the line from `a` to the centre `b` of `box` enters the box, so the arrow head stays visible. */
  function clipToBox(a, b, box) {
    const halfW = box.offsetWidth / 2 + 4;
    const halfH = box.offsetHeight / 2 + 4;
    const dx = a.x - b.x;
    const dy = a.y - b.y;
    if (dx === 0 && dy === 0) return b;
    const scale = Math.min(dx !== 0 ? halfW / Math.abs(dx) : Infinity, dy !== 0 ? halfH / Math.abs(dy) : Infinity, 1);
    return { x: b.x + dx * scale, y: b.y + dy * scale };
  }

  function renderSide() {
    const stats = document.getElementById("board-stats");
    stats.replaceChildren();
    for (const [key, label] of STAT_LABELS) {
      stats.append(Sv.el("dt", { textContent: label }), Sv.el("dd", { textContent: String((board.stats || {})[key] || 0), dataset: { stat: key } }));
    }
    const tagList = document.getElementById("board-tags");
    tagList.replaceChildren();
    const tags = Array.isArray(board.tags) ? board.tags : [];
    if (tags.length === 0) tagList.append(Sv.el("li", { className: "muted", textContent: "No tags yet." }));
    for (const entry of tags) {
      const button = Sv.el("button", { type: "button", className: "tag-filter" + (entry.tag === selectedTag ? " active" : "") }, [
        Sv.el("span", { textContent: "#" + entry.tag }),
        Sv.el("span", { className: "count", textContent: String(entry.count) }),
      ]);
      button.addEventListener("click", function () {
        selectedTag = selectedTag === entry.tag ? null : entry.tag;
        render();
      });
      tagList.append(Sv.el("li", {}, [button]));
    }
  }

  function render() {
    const nodes = Array.isArray(board.nodes) ? board.nodes : [];
    const edges = Array.isArray(board.edges) ? board.edges : [];
    if (board.title) document.getElementById("board-title").textContent = board.title;
    let minX = 0;
    let minY = 0;
    for (const node of nodes) {
      minX = Math.min(minX, num(node.x, 0));
      minY = Math.min(minY, num(node.y, 0));
    }
    const offsetX = PAD - minX;
    const offsetY = PAD - minY;
    for (const old of canvas.querySelectorAll(".node, .board-empty")) old.remove();
    const cards = new Map();
    for (const node of nodes) {
      const card = nodeCard(node, offsetX, offsetY);
      canvas.append(card);
      cards.set(node.id, card);
    }
    drawnSizes = new Map();
    for (const [id, card] of cards) drawnSizes.set(id, { w: card.offsetWidth, h: card.offsetHeight });
    let width = 0;
    let height = 0;
    for (const card of cards.values()) {
      width = Math.max(width, card.offsetLeft + card.offsetWidth + PAD);
      height = Math.max(height, card.offsetTop + card.offsetHeight + PAD);
    }
    if (nodes.length === 0) {
      canvas.append(Sv.el("p", { className: "board-empty", textContent: "This board is empty." }));
    }
    canvas.style.width = Math.max(width, 600) + "px";
    canvas.style.height = Math.max(height, 400) + "px";
    drawEdges(edges, cards, Math.max(width, 600), Math.max(height, 400));
    renderSide();
    app.dataset.nodeCount = String(nodes.length);
    app.dataset.edgeCount = String(edges.length);
  }

  async function load() {
    app.dataset.state = "loading";
    const result = await Sv.api("GET", boardUrl);
    if (!result.ok || !result.data.board) {
      Sv.setStatus(statusLine, "Could not load the board: " + Sv.errorText(result), "error");
      app.dataset.state = "error";
      return;
    }
    board = result.data.board;
    render();
    Sv.setStatus(statusLine, "");
    app.dataset.state = "ready";
  }

  /** The first slot of a simple grid that keeps clear of every drawn node, so a new node never hides another. */
  function freeSpot() {
    const boxes = (board && board.nodes ? board.nodes : []).map(function (node) {
      const size = drawnSizes.get(node.id) || { w: num(node.w, DEFAULT_W), h: num(node.h, DEFAULT_H) || DEFAULT_H };
      return { x: num(node.x, 0) - GAP, y: num(node.y, 0) - GAP, w: size.w + 2 * GAP, h: size.h + 2 * GAP };
    });
    for (let row = 0; ; row++) {
      for (let col = 0; col < 4; col++) {
        const spot = { x: col * (DEFAULT_W + 2 * GAP), y: row * (DEFAULT_H + 2 * GAP), w: DEFAULT_W, h: DEFAULT_H };
        const overlaps = boxes.some(function (box) {
          return spot.x < box.x + box.w && box.x < spot.x + spot.w && spot.y < box.y + box.h && box.y < spot.y + spot.h;
        });
        if (!overlaps) return spot;
      }
    }
  }

  const form = document.getElementById("add-node");
  if (form) {
    const formStatus = form.querySelector(".status");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!board) return;
      const spot = freeSpot();
      const body = {
        type: form.elements.type.value,
        title: form.elements.title.value,
        text: form.elements.text.value,
        x: spot.x,
        y: spot.y,
        tags: Sv.splitTags(form.elements.tags.value),
      };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      Sv.setStatus(formStatus, "Adding…");
      const result = await Sv.api("POST", boardUrl + "/" + encodeURIComponent(board.id) + "/nodes", body);
      button.disabled = false;
      if (!result.ok) {
        Sv.setStatus(formStatus, Sv.errorText(result), "error");
        return;
      }
      form.reset();
      Sv.setStatus(formStatus, "Node added.", "ok");
      await load();
    });
  }

  /** Send a bundle file (multipart) to an import route; resolves like Sv.api. */
  async function sendBundle(url, file) {
    const body = new FormData();
    body.append("file", file, file.name);
    let response;
    try {
      response = await fetch(url, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" }, body: body });
    } catch (error) {
      return { ok: false, status: 0, data: { error: "The server could not be reached: " + error.message } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { error: "Unexpected answer from the server (HTTP " + response.status + ")" };
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  function summaryText(summary) {
    return STAT_LABELS.filter(function (pair) { return typeof (summary || {})[pair[0]] === "number"; })
      .map(function (pair) {
        const word = pair[1].toLowerCase();
        return summary[pair[0]] + " " + (summary[pair[0]] === 1 ? word.replace(/s$/, "") : word);
      }).join(", ");
  }

  // Import: the bundle is checked first (nothing changes when it is refused), then replaces the board.
  const importForm = document.getElementById("import-board");
  if (importForm) {
    const importStatus = importForm.querySelector(".status");
    importForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const file = importForm.elements.file.files[0];
      if (!file) return;
      const button = importForm.querySelector("button[type=submit]");
      button.disabled = true;
      Sv.setStatus(importStatus, "Checking the bundle…");
      let result = await sendBundle(boardUrl + "/import/validate", file);
      if (result.ok) {
        Sv.setStatus(importStatus, "Importing…");
        result = await sendBundle(boardUrl + "/import", file);
      }
      button.disabled = false;
      if (!result.ok) {
        Sv.setStatus(importStatus, "Not imported: " + Sv.errorText(result), "error");
        return;
      }
      importForm.reset();
      const warnings = Array.isArray(result.data.warnings) ? result.data.warnings.length : 0;
      Sv.setStatus(importStatus, "Imported: " + summaryText(result.data.summary) + "." +
        (warnings ? " " + warnings + " warning(s): " + result.data.warnings.join("; ") : ""), "ok");
      await load();
    });
  }

  load();
})();
