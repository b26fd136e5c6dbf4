// The officers' console: live figures on an alert's page, and forms that ask before they send.
"use strict";

const POLL_MS = 3000;

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// The value at a dotted path ("responses.help") of the live JSON, or undefined.
function valueAt(body, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), body);
}

function updateFigures(root, body) {
  for (const figure of root.querySelectorAll("[data-figure]")) {
    const value = valueAt(body, figure.dataset.figure);
    if (value === undefined || value === null) {
      continue;
    }
    const target = figure.querySelector("dd") || figure;
    target.textContent = String(value);
  }
}

// One person of the help list, built as the server renders it (text only, never HTML).
function helpItem(person, noPhone) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = person.name;
  const station = document.createElement("span");
  station.className = "station";
  station.textContent = person.station;
  item.append(name, " ", station, " ");
  if (person.phone) {
    const phone = document.createElement("a");
    phone.className = "phone";
    phone.href = "tel:" + person.phone;
    phone.textContent = person.phone;
    item.append(phone);
  } else {
    const phone = document.createElement("span");
    phone.className = "phone";
    phone.textContent = noPhone;
    item.append(phone);
  }
  if (person.latest_text) {
    const words = document.createElement("q");
    words.className = "words";
    words.textContent = person.latest_text;
    item.append(" ", words);
  }
  return item;
}

function updateHelp(body) {
  const list = document.getElementById("help-list");
  if (list) {
    list.replaceChildren(...body.help.map((person) => helpItem(person, list.dataset.noPhone || "")));
  }
  const none = document.getElementById("help-none");
  if (none) {
    none.hidden = body.help.length > 0;
  }
  const more = document.getElementById("help-more");
  if (more) {
    more.hidden = !body.help_more;
  }
}

function startLive(root) {
  const banner = document.getElementById("live-lost");
  const poll = async () => {
    try {
      const response = await fetch(root.dataset.live, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.reload(); // signed out: the page itself leads to the sign-in form
        return;
      }
      if (!response.ok) {
        throw new Error("status " + response.status);
      }
      const body = await response.json();
      updateFigures(root, body);
      updateHelp(body);
      if (banner) {
        banner.hidden = true;
      }
    } catch (error) {
      if (banner) {
        banner.hidden = false;
      }
    }
    window.setTimeout(poll, POLL_MS);
  };
  window.setTimeout(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-live]");
  if (root) {
    startLive(root);
  }
});
