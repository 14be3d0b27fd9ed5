/* The project list page: create a project through the API, then show the refreshed list. */
"use strict";

(function () {
  const form = document.getElementById("new-project");
  if (!form) return;
  const status = form.querySelector(".status");

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    Sv.setStatus(status, "Creating…");
    const body = {
      name: form.elements.name.value,
      desc: form.elements.desc.value,
      type: form.elements.type.value,
      scope: form.elements.scope.value,
    };
    const result = await Sv.api("POST", form.dataset.endpoint, body);
    button.disabled = false;
    if (!result.ok) {
      Sv.setStatus(status, Sv.errorText(result), "error");
      return;
    }
    Sv.setStatus(status, "Created.", "ok");
    window.location.reload();
  });
})();
