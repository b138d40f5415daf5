// The page of `mllmsc serve`: a form that posts to /v1/transmit and shows what arrived.
// Plain JS, no build step, nothing loaded from elsewhere (the CSP allows only this server).
"use strict";

const CBR_TEXT = ["1/384", "1/192", "1/96", "1/64", "1/48", "1/32", "1/16", "1/12", "1/8", "1/6", "1/4"];
const PANELS = ["original", "importance", "allocation", "uniform", "guided"];
const $ = (id) => document.getElementById(id);
let info = null;
let scene = null; // {seed, index} of the scene shown, once loaded

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function headers() {
  const token = $("token").value.trim();
  if (token) sessionStorage.setItem("mllmsc-token", token);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${response.status}: ${body.error ? body.error.message : JSON.stringify(body)}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function option(select, value, text = value) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  select.appendChild(o);
}

function source() {
  return document.querySelector("input[name=source]:checked").value;
}

function showSource() {
  for (const div of document.querySelectorAll(".source")) div.hidden = div.dataset.source !== source();
}

function db(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(2)} dB`;
}

async function loadInfo() {
  const response = await fetch("/v1/info");
  info = await response.json();
  $("auth").hidden = !info.auth;
  $("token").value = sessionStorage.getItem("mllmsc-token") || "";
  for (const name of info.guidance) option($("guidance"), name);
  $("guidance").value = info.default_guidance;
  for (const name of info.channels) option($("channel"), name);
  $("channel").value = "awgn";
  for (const name of info.samples) option($("sample"), name);
  // One choice a person reads: the JSCC decoder, or the generative decoder in one of its modes.
  const decoder = $("decoder");
  decoder.appendChild(new Option("JSCC decoder (fast)", "fast"));
  if (info.decoders.includes("generative")) {
    for (const mode of info.modes) decoder.appendChild(new Option(`generative, ${mode}`, `generative:${mode}`));
  }
  decoder.value = "fast";
}

async function loadScene() {
  const seed = $("scene-seed").value || "0";
  const index = $("scene-index").value || "0";
  status("generating the scene…");
  const response = await fetch(`/v1/scene?seed=${encodeURIComponent(seed)}&index=${encodeURIComponent(index)}`,
    { headers: headers() });
  if (!response.ok) {
    status(`scene: ${await errorText(response)}`, true);
    return;
  }
  const body = await response.json();
  scene = { seed: body.seed, index: body.index };
  $("img-original").src = body.image;
  const select = $("question");
  select.replaceChildren();
  for (const e of body.expressions) {
    option(select, e.text, e.answer ? `${e.text} (${e.answer})` : e.text);
  }
  $("intent").value = select.value;
  status(`scene ${body.index} of seed ${body.seed}: pick a question or type your own`);
}

function showResult(body) {
  for (const name of PANELS) $(`img-${name}`).src = body.images[name];
  for (const run of ["uniform", "guided"]) {
    const report = body.reports[run];
    const m = report.metrics;
    const s = report.symbols;
    $(`psnr-${run}`).textContent = db(m.psnr);
    $(`roi-${run}`).textContent = db(m.roi_psnr);
    $(`bg-${run}`).textContent = db(m.background_psnr);
    $(`symbols-${run}`).textContent = `${s.total} (${s.side_info}) / ${s.budget}`;
    const task = report.task;
    let answer = "—";
    if (task) {
      answer = task.answer === null ? `none (${task.reason || "no answer"})` : task.answer;
      if (body.scene && body.scene.truth !== null) {
        answer += task.answer === body.scene.truth ? " ✓" : ` ✗ (truth: ${body.scene.truth})`;
      }
    }
    $(`answer-${run}`).textContent = answer;
  }
  const g = body.reports.guided;
  const resized = body.resized_from ? `, shrunk from ${body.resized_from[1]}×${body.resized_from[0]}` : "";
  $("details").textContent =
    `${body.image} (${body.width}×${body.height}${resized}) over ${g.channel} at ${g.snr_db} dB; ` +
    `guidance ${g.guidance.backend} (${g.guidance.used_query ? "intent used" : "intent not used"}, ` +
    `ROI ${(100 * g.guidance.roi_fraction).toFixed(1)} %); ` +
    (g.decoder ? `decoder ${g.decoder.name} ${g.decoder.mode} (${g.decoder.steps} steps); ` : "") +
    `server ${Math.round(body.latency_ms.total)} ms`;
}

async function transmit(event) {
  event.preventDefault();
  const form = new FormData();
  const kind = source();
  if (kind === "upload") {
    const file = $("file").files[0];
    if (!file) {
      status("choose an image file first", true);
      return;
    }
    form.append("image", file, file.name);
  } else if (kind === "sample") {
    form.append("sample", $("sample").value);
  } else {
    if (!scene) await loadScene();
    if (!scene) return;
    form.append("scene_seed", scene.seed);
    form.append("scene_index", scene.index);
  }
  form.append("intent", $("intent").value);
  form.append("guidance", $("guidance").value);
  form.append("channel", $("channel").value);
  form.append("snr_db", $("snr").value);
  form.append("cbr", CBR_TEXT[Number($("cbr").value)]);
  const [decoder, mode] = $("decoder").value.split(":");
  form.append("decoder", decoder);
  if (mode) form.append("mode", mode);
  $("send").disabled = true;
  status("sending over the channel…");
  try {
    const response = await fetch("/v1/transmit", { method: "POST", body: form, headers: headers() });
    if (!response.ok) {
      status(await errorText(response), true);
      return;
    }
    showResult(await response.json());
    status("done");
  } catch (err) {
    status(`the server could not be reached (${err})`, true);
  } finally {
    $("send").disabled = false;
  }
}

function sliders() {
  $("snr-out").textContent = `${$("snr").value} dB`;
  $("cbr-out").textContent = CBR_TEXT[Number($("cbr").value)];
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const radio of document.querySelectorAll("input[name=source]")) radio.addEventListener("change", showSource);
  $("snr").addEventListener("input", sliders);
  $("cbr").addEventListener("input", sliders);
  $("question").addEventListener("change", () => { $("intent").value = $("question").value; });
  $("load-scene").addEventListener("click", loadScene);
  $("scene-seed").addEventListener("change", () => { scene = null; });
  $("scene-index").addEventListener("change", () => { scene = null; });
  $("sample").addEventListener("change", () => { $("img-original").src = `/v1/samples/${$("sample").value}.png`; });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) $("img-original").src = URL.createObjectURL(file);
  });
  $("controls").addEventListener("submit", transmit);
  sliders();
  try {
    await loadInfo();
    document.body.dataset.ready = "1";
  } catch (err) {
    status(`the server could not be reached (${err})`, true);
  }
});
