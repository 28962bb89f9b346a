// The establishments' space: uploads and live verdicts. The pages work without it (a
// plain form posts every file at once); with it, files and folders can be dropped, each
// file is sent on its own with its progress, under the same idempotency key as
// `caregate submit` (SHA-256 of "<dossier>\n<path>\n<SHA-256 of the content>"), files the
// dossier already holds (same path, same content) are not sent again, and a cut
// connection is waited out and resumed where it stopped.

const RETRY_STATUSES = [0, 408, 429, 502, 503, 504];

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data) {
  return hex(await crypto.subtle.digest("SHA-256", data));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function octets(n) {
  if (n < 1024) return `${n} o`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1).replace(".", ",")} Ko`;
  return `${(n / 1024 / 1024).toFixed(1).replace(".", ",")} Mo`;
}

// Waits `ms`, or less if the browser says it is back online.
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => {
      window.removeEventListener("online", done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

function backoff(attempt, retryAfter) {
  const base = retryAfter ? retryAfter * 1000 : Math.min(500 * 2 ** Math.min(attempt, 6), 30000);
  return base + Math.random() * base * 0.5;
}

// Every file of a drop, folders walked (their paths kept, relative to what was dropped).
async function droppedFiles(dataTransfer) {
  const entries = Array.from(dataTransfer.items || [])
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length === 0) {
    return Array.from(dataTransfer.files || []).map((file) => ({ file, name: file.name }));
  }
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, name: entry.fullPath.replace(/^\//, "") });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return out;
}

function setUpUpload(form) {
  const submission = form.dataset.submission;
  const replaces = form.dataset.remplace || null;
  const csrf = form.querySelector("input[name=_csrf]").value;
  const field = (name) => form.querySelector(`input[name=${name}]`).value;
  const zone = document.getElementById("zone-depot");
  const follow = document.getElementById("fichiers-suivi");
  const button = document.getElementById("envoyer");
  const queue = [];

  const table = document.createElement("table");
  table.className = "fichiers";
  table.innerHTML = "<caption>Fichiers à envoyer</caption><thead><tr><th scope='col'>Fichier</th><th scope='col'>Taille</th><th scope='col'>Progression</th><th scope='col'>État</th></tr></thead><tbody></tbody>";
  const wrapper = document.createElement("div");
  wrapper.className = "fr-table";
  wrapper.hidden = true;
  wrapper.appendChild(table);
  follow.appendChild(wrapper);

  const setState = (item, state, text) => {
    item.row.dataset.etat = state;
    item.status.textContent = text;
  };

  const add = (items) => {
    for (const { file, name } of items) {
      if (replaces) queue.length = 0;
      const before = queue.findIndex((q) => q.name === name);
      if (before >= 0 && !queue[before].done) continue;
      // Chosen again after it was sent: one line per file, the new attempt's.
      if (before >= 0) queue.splice(before, 1)[0].row.remove();
      const row = table.tBodies[0].insertRow();
      if (replaces) table.tBodies[0].replaceChildren(row);
      row.dataset.nom = name;
      row.insertCell().textContent = name;
      row.insertCell().textContent = octets(file.size);
      const bar = document.createElement("progress");
      bar.max = file.size || 1;
      bar.value = 0;
      bar.setAttribute("aria-label", `Progression de ${name}`);
      row.insertCell().appendChild(bar);
      const status = row.insertCell();
      status.className = "statut";
      const item = { file, name, row, bar, status, done: false };
      setState(item, "en-attente", "prêt à envoyer");
      queue.push(item);
    }
    wrapper.hidden = queue.length === 0;
  };

  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("survol");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("survol"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("survol");
    add(await droppedFiles(e.dataTransfer));
  });
  for (const input of form.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => {
      add(Array.from(input.files).map((file) => ({ file, name: file.webkitRelativePath || file.name })));
      // Kept in the queue, not in the field: the plain form must not send them too.
      input.value = "";
    });
  }

  // What the dossier already holds, "path\nsha256"; asked again until it answers.
  const held = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        const resp = await fetch(`/espace/dossiers/${submission}/recus`, { credentials: "same-origin" });
        if (resp.ok) return new Set((await resp.json()).map((f) => `${f.path}\n${f.sha256}`));
        if (!RETRY_STATUSES.includes(resp.status)) throw new Error(`réponse ${resp.status}`);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
      }
      for (const item of queue.filter((q) => !q.done)) setState(item, "interrompu", "connexion interrompue : nouvel essai en attente…");
      await pause(backoff(attempt));
    }
  };

  const attempt = (item, key) =>
    new Promise((resolve) => {
      const data = new FormData();
      data.append("establishment", field("establishment"));
      data.append("campaign", field("campaign"));
      data.append("submission_id", submission);
      for (const o of form.querySelectorAll("input[name=objective]")) {
        if (o.type !== "checkbox" || o.checked) data.append("objective", o.value);
      }
      const siret = form.querySelector("input[name=establishment_siret]");
      if (siret && siret.value.trim()) data.append("establishment_siret", siret.value.trim());
      data.append("file", item.file, item.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/evidence");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.upload.onprogress = (e) => {
        item.bar.value = e.loaded;
      };
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText, retryAfter: Number(xhr.getResponseHeader("Retry-After")) || 0 });
      xhr.onerror = () => resolve({ status: 0 });
      xhr.ontimeout = () => resolve({ status: 0 });
      xhr.send(data);
    });

  const upload = async (item, key) => {
    for (let n = 0; ; n++) {
      setState(item, "envoi", n === 0 ? "envoi en cours…" : `envoi repris (essai ${n + 1})…`);
      item.bar.value = 0;
      const answer = await attempt(item, key);
      if (answer.status >= 200 && answer.status < 300) {
        item.bar.value = item.bar.max;
        setState(item, "recu", "reçu");
        return JSON.parse(answer.body).evidence[0];
      }
      if (!RETRY_STATUSES.includes(answer.status)) {
        let said = `refusé (${answer.status})`;
        try {
          said = `refusé : ${JSON.parse(answer.body).message}`;
        } catch (_) {
          // Not the API's JSON error: the status says enough.
        }
        setState(item, "erreur", said);
        return null;
      }
      const wait = backoff(n, answer.retryAfter);
      setState(item, "interrompu", `connexion interrompue : nouvel essai dans ${Math.ceil(wait / 1000)} s (rien n'est perdu)`);
      await pause(wait);
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (queue.every((q) => q.done)) {
      follow.querySelector("#depot-resultat")?.remove();
      const none = document.createElement("p");
      none.id = "depot-resultat";
      none.className = "fr-error-text";
      none.textContent = "Choisissez ou déposez d'abord des fichiers.";
      follow.appendChild(none);
      return;
    }
    // The previous round's summary goes: this round will say its own.
    follow.querySelector("#depot-resultat")?.remove();
    button.disabled = true;
    let sent = 0;
    let already = 0;
    let refused = 0;
    let receipt = null;
    for (const item of queue.filter((q) => !q.done)) {
      setState(item, "empreinte", "calcul de l'empreinte…");
      item.sha = item.sha || (await sha256(await item.file.arrayBuffer()));
    }
    const have = await held();
    for (const item of queue.filter((q) => !q.done)) {
      if (have.has(`${item.name}\n${item.sha}`)) {
        item.bar.value = item.bar.max;
        setState(item, "deja-recu", "déjà reçu : non renvoyé");
        item.done = true;
        already++;
        continue;
      }
      const key = await sha256(new TextEncoder().encode(`${submission}\n${item.name}\n${item.sha}`));
      const r = await upload(item, key);
      item.done = true;
      if (r) {
        receipt = r;
        sent++;
      } else {
        refused++;
      }
    }
    let notRetired = false;
    if (replaces && receipt) {
      const body = new URLSearchParams({ remplacee_par: receipt.evidence_id, _csrf: csrf });
      // The old file is taken out only if the server says so: otherwise both still
      // count, and the person must know it.
      const w = await fetch(`/espace/pieces/${replaces}/retrait`, { method: "POST", body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" }).catch(() => null);
      if (!w || !w.ok) {
        notRetired = true;
        refused++;
      }
    }
    button.disabled = false;
    const result = document.createElement("div");
    result.id = "depot-resultat";
    result.className = `fr-alert fr-alert--${refused ? "warning" : "success"} fr-mt-2w`;
    result.dataset.envoyes = sent;
    result.dataset.deja = already;
    result.dataset.refuses = refused;
    const p = document.createElement("p");
    p.textContent = `${sent} fichier(s) envoyé(s), ${already} déjà reçu(s)${refused ? `, ${refused} refusé(s)` : ""}. `
      + (notRetired ? "L'ancienne pièce n'a pas été retirée : elle compte toujours, réessayez de la remplacer. " : "");
    const link = document.createElement("a");
    link.href = `/espace/dossiers/${submission}`;
    link.id = "voir-dossier";
    link.textContent = "Voir le dossier et ses verdicts";
    p.appendChild(link);
    result.appendChild(p);
    follow.querySelector("#depot-resultat")?.remove();
    follow.appendChild(result);
    result.setAttribute("tabindex", "-1");
    result.focus();
  });
}

// An answer to a controller with new files: each is deposited in the dossier first (the
// same request, key and retries as the upload form's), then joined to the answer.
function setUpAnswers(depot) {
  const csrf = depot.querySelector("input[name=_csrf]").value;
  const submission = depot.dataset.submission;
  const field = (name) => depot.querySelector(`input[name=${name}]`).value;
  document.addEventListener("submit", async (e) => {
    const answer = e.target;
    if (!answer.matches("form.reponse")) return;
    const input = answer.querySelector("input[type=file]");
    if (!input || input.files.length === 0 || answer.dataset.joint) return;
    e.preventDefault();
    const said = answer.querySelector(".joints");
    const button = answer.querySelector("button[type=submit]");
    button.disabled = true;
    for (const file of Array.from(input.files)) {
      const line = document.createElement("p");
      line.className = "fr-hint-text joint";
      line.dataset.nom = file.name;
      line.textContent = `${file.name} : envoi…`;
      said.appendChild(line);
      const sha = await sha256(await file.arrayBuffer());
      const key = await sha256(new TextEncoder().encode(`${submission}\n${file.name}\n${sha}`));
      for (let n = 0; ; n++) {
        const data = new FormData();
        data.append("establishment", field("establishment"));
        data.append("campaign", field("campaign"));
        data.append("submission_id", submission);
        for (const o of depot.querySelectorAll("input[name=objective]")) data.append("objective", o.value);
        data.append("file", file, file.name);
        let resp = null;
        try {
          resp = await fetch("/api/evidence", { method: "POST", body: data, headers: { "X-CSRF-Token": csrf, "Idempotency-Key": key }, credentials: "same-origin" });
        } catch (_) {
          // No answer: waited out below, as a 503 would be.
        }
        if (resp && resp.ok) {
          const receipt = (await resp.json()).evidence[0];
          const joined = document.createElement("input");
          joined.type = "hidden";
          joined.name = "piece";
          joined.value = receipt.evidence_id;
          answer.appendChild(joined);
          line.textContent = `${file.name} : reçu, joint à la réponse`;
          break;
        }
        if (resp && !RETRY_STATUSES.includes(resp.status)) {
          line.textContent = `${file.name} : refusé (${resp.status}) — la réponse n'est pas envoyée`;
          button.disabled = false;
          return;
        }
        line.textContent = `${file.name} : connexion interrompue, nouvel essai…`;
        await pause(backoff(n, resp ? Number(resp.headers.get("Retry-After")) || 0 : 0));
      }
    }
    input.value = "";
    answer.dataset.joint = "1";
    answer.submit();
  });
}

// The verdicts brought up to date while the page is open (a file finished, a
// controller decided), unless the person is typing in that part of the page.
function followVerdicts(zone) {
  const source = zone.dataset.source;
  setInterval(async () => {
    if (zone.contains(document.activeElement) || Array.from(zone.querySelectorAll("textarea")).some((t) => t.value)) return;
    try {
      const resp = await fetch(source, { credentials: "same-origin" });
      if (!resp.ok) return;
      const fresh = document.createElement("div");
      fresh.innerHTML = await resp.text();
      const now = zone.querySelector("#verdicts");
      const next = fresh.querySelector("#verdicts");
      if (next && (!now || now.dataset.etat !== next.dataset.etat)) zone.replaceChildren(next);
    } catch (_) {
      // Offline for a moment: the next round tries again.
    }
  }, 3000);
}

const form = document.getElementById("depot");
if (form) setUpUpload(form);
if (form && document.querySelector("form.reponse")) setUpAnswers(form);
const verdicts = document.getElementById("zone-verdicts");
if (verdicts) followVerdicts(verdicts);
