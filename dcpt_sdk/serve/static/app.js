// The dcpt-serve page: upload an image to POST v1/restore, show before/after, the detected
// degradation, the time taken and a download link. Plain browser JavaScript, no build step and
// nothing fetched from elsewhere, so the page works offline and behind any proxy prefix (every URL
// is relative to the page).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("upload-form");
  const dropZone = $("drop-zone");
  const fileInput = $("file-input");
  const fileName = $("file-name");
  const formatSelect = $("format-select");
  const restoreButton = $("restore-button");
  const statusLine = $("status");
  const errorBox = $("error");
  const result = $("result");
  const compare = $("compare");
  const beforeImage = $("before-image");
  const afterImage = $("after-image");
  const slider = $("compare-slider");
  const previewNote = $("preview-note");
  const topClass = $("top-class");
  const topProbability = $("top-probability");
  const chart = $("prob-chart");
  const elapsedServer = $("elapsed-server");
  const elapsedRoundTrip = $("elapsed-roundtrip");
  const resultBackend = $("result-backend");
  const downloadLink = $("download-link");
  const health = $("health");

  // The file name extension of each image type the service can return.
  const EXTENSION_OF_TYPE = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "image/bmp": ".bmp", // only for a BMP upload in its own format
  };
  const EXTENSION_OF_FORMAT = { png: ".png", jpeg: ".jpg", webp: ".webp", tiff: ".tif" };

  let chosenFile = null;
  let inFlight = null; // AbortController of the upload under way: a newer file cancels it
  let objectUrls = [];

  // The page's state, for styling and for tests: idle | busy | done | error.
  function setState(state) {
    document.body.dataset.state = state;
  }

  // Nothing is disabled while busy: a disabled control drops the keyboard focus. The button
  // says it is busy and ignores presses; a newly chosen file replaces the upload under way.
  function setBusy(busy) {
    restoreButton.setAttribute("aria-disabled", String(busy));
    restoreButton.textContent = busy ? "Restoring…" : "Restore";
    form.setAttribute("aria-busy", String(busy));
    result.setAttribute("aria-busy", String(busy));
  }

  function showError(title, message) {
    errorBox.replaceChildren();
    const heading = document.createElement("strong");
    heading.textContent = title;
    const text = document.createElement("span");
    text.id = "error-message";
    text.dataset.testid = "error-message";
    text.textContent = message;
    errorBox.append(heading, " ", text);
    errorBox.hidden = false;
    result.hidden = true; // what it shows belongs to an earlier file
    statusLine.textContent = "";
    setState("error");
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  function releaseObjectUrls() {
    objectUrls.forEach((url) => URL.revokeObjectURL(url));
    objectUrls = [];
  }

  function objectUrl(blob) {
    const url = URL.createObjectURL(blob);
    objectUrls.push(url);
    return url;
  }

  function chooseFile(file) {
    chosenFile = file;
    fileName.textContent = file ? `${file.name} (${formatBytes(file.size)})` : "No file chosen";
    restoreButton.disabled = file === null;
    if (file) {
      restore(file);
    }
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  }

  function formatPercent(probability) {
    const percent = probability * 100;
    if (percent > 0 && percent < 0.05) return "<0.1%";
    return `${percent.toFixed(1)}%`;
  }

  function formatMs(ms) {
    return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
  }

  // The service's error body is {"error": {"kind", "message"}}; a proxy in between may answer
  // with HTML or nothing, which still deserves a readable line.
  async function errorMessageOf(response, body) {
    let message = `The service answered HTTP ${response.status} ${response.statusText}`.trim();
    try {
      const parsed = JSON.parse(await body.text());
      if (parsed && parsed.error && typeof parsed.error.message === "string") {
        message = parsed.error.message;
      }
    } catch (_ignored) {
      // not JSON: keep the status line
    }
    return message;
  }

  function retryHint(response) {
    const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return Number.isFinite(seconds) ? ` Try again in ${seconds} s.` : "";
  }

  function downloadName(original, contentType, format) {
    const dot = original.lastIndexOf(".");
    const stem = dot > 0 ? original.slice(0, dot) : original;
    const type = (contentType || "").split(";")[0].trim().toLowerCase();
    const extension =
      EXTENSION_OF_TYPE[type] || EXTENSION_OF_FORMAT[format] || (dot > 0 ? original.slice(dot) : ".png");
    return `${stem}-restored${extension}`;
  }

  // X-Degradation-Probabilities is a compact JSON object, class -> probability, in model order.
  function probabilitiesOf(headers) {
    const raw = headers.get("X-Degradation-Probabilities");
    if (!raw) return [];
    try {
      return Object.entries(JSON.parse(raw))
        .map(([name, p]) => [name, Number(p)])
        .sort((a, b) => b[1] - a[1]);
    } catch (_ignored) {
      return [];
    }
  }

  function renderChart(sorted, top) {
    chart.replaceChildren();
    sorted.forEach(([name, probability]) => {
      const row = document.createElement("li");
      row.className = "chart-row";
      row.dataset.testid = "prob-row";
      row.dataset.class = name;
      row.dataset.probability = String(probability);
      const isTop = name === top;
      row.classList.toggle("is-top", isTop);

      const label = document.createElement("span");
      label.className = "chart-label";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "chart-track";
      track.setAttribute("aria-hidden", "true");
      const bar = document.createElement("span");
      bar.className = "chart-bar";
      bar.style.width = `${Math.max(0, Math.min(1, probability)) * 100}%`;
      track.append(bar);
      const value = document.createElement("span");
      value.className = "chart-value";
      value.dataset.testid = "prob-value";
      value.textContent = formatPercent(probability);
      row.append(label, track, value);
      if (isTop) {
        const note = document.createElement("span");
        note.className = "visually-hidden";
        note.textContent = " (detected)";
        row.append(note);
      }
      chart.append(row);
    });
  }

  // Resolves once the image has decoded (true) or failed to (false: e.g. TIFF, which browsers
  // do not display; the download still has the file).
  function loadImage(image, url) {
    return new Promise((resolve) => {
      image.onload = () => resolve(true);
      image.onerror = () => resolve(false);
      image.src = url;
    });
  }

  async function showResult(file, response, body, roundTripMs, format, signal) {
    releaseObjectUrls();
    const headers = response.headers;
    const top = headers.get("X-Degradation") || "";
    const topP = Number(headers.get("X-Degradation-Probability"));
    const serverMs = Number(headers.get("X-Elapsed-Ms"));

    topClass.textContent = top || "not reported";
    topProbability.textContent = top && Number.isFinite(topP) ? formatPercent(topP) : "";
    const sorted = probabilitiesOf(headers);
    renderChart(sorted, top);
    chart.hidden = sorted.length === 0;
    elapsedServer.textContent = Number.isFinite(serverMs) && headers.has("X-Elapsed-Ms") ? formatMs(serverMs) : "not reported";
    elapsedRoundTrip.textContent = formatMs(roundTripMs);
    resultBackend.textContent = headers.get("X-Backend") || "not reported";

    const restoredUrl = objectUrl(body);
    downloadLink.href = restoredUrl;
    downloadLink.download = downloadName(file.name, body.type || headers.get("Content-Type"), format);

    slider.value = "50";
    compare.style.setProperty("--pos", "50%");
    result.hidden = false;
    const [beforeShown, afterShown] = await Promise.all([
      loadImage(beforeImage, objectUrl(file)),
      loadImage(afterImage, restoredUrl),
    ]);
    if (signal.aborted) return; // a newer upload owns the page now
    if (afterShown) {
      compare.style.setProperty("--aspect", String(afterImage.naturalWidth / afterImage.naturalHeight));
    }
    compare.hidden = !(beforeShown && afterShown);
    previewNote.hidden = beforeShown && afterShown;
    const unshown = beforeShown ? "the restored image" : afterShown ? "the uploaded image" : "these images";
    previewNote.textContent = previewNote.hidden
      ? ""
      : `This browser cannot display ${unshown} (a TIFF, say), so there is no before/after ` +
        "view; the download button has the restored file.";
    statusLine.textContent = `Restored ${file.name}: ${top || "degradation not reported"}, ${formatMs(roundTripMs)} round trip.`;
    setState("done");
  }

  async function restore(file) {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    const format = formatSelect.value;
    clearError();
    setBusy(true);
    setState("busy");
    statusLine.textContent = `Restoring ${file.name}…`;
    const url = "v1/restore" + (format ? `?format=${encodeURIComponent(format)}` : "");
    const started = performance.now();
    try {
      const response = await fetch(url, {
        method: "POST",
        body: file,
        headers: { "Content-Type": file.type || "application/octet-stream" },
        signal: controller.signal,
      });
      const body = await response.blob(); // the round trip ends when the last byte is in
      const roundTripMs = performance.now() - started;
      if (controller.signal.aborted) return;
      if (!response.ok) {
        const message = await errorMessageOf(response, body);
        showError(`Could not restore ${file.name}:`, message + retryHint(response));
        return;
      }
      await showResult(file, response, body, roundTripMs, format, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return; // replaced by a newer upload
      showError("Could not reach the service:", String(error && error.message ? error.message : error));
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        setBusy(false);
      }
    }
  }

  async function checkHealth(delayMs) {
    try {
      const response = await fetch("healthz", { cache: "no-store" });
      const info = await response.json();
      const classes = Array.isArray(info.classes) ? info.classes.map(String) : [];
      const parts = [
        `Model ${info.model || "unknown"}`,
        `backend ${info.backend || "unknown"}`,
        `precision ${info.precision || "unknown"}`,
        `${classes.length} degradation classes`,
        `status ${info.status || "unknown"}`,
      ];
      health.textContent = parts.join(" · ");
      health.title = classes.join(", ");
      health.dataset.status = String(info.status || "");
      if (response.ok && info.status === "ok") return;
    } catch (_ignored) {
      health.textContent = "The service is not answering /healthz.";
      health.dataset.status = "unreachable";
    }
    // still starting or unreachable: look again, less and less often
    window.setTimeout(() => checkHealth(Math.min(delayMs * 2, 30000)), delayMs);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (inFlight) return; // busy: the press changes nothing
    if (chosenFile === null) {
      showError("No image yet:", "choose an image file or drop one on the page first.");
      return;
    }
    restore(chosenFile);
  });

  fileInput.addEventListener("change", () => {
    chooseFile(fileInput.files && fileInput.files.length ? fileInput.files[0] : null);
  });

  slider.addEventListener("input", () => {
    compare.style.setProperty("--pos", `${slider.value}%`);
  });

  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    dropZone.classList.add("is-dragging");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("is-dragging"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("is-dragging");
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (!files || files.length === 0) {
      showError("Nothing to restore:", "drop an image file (not a link or text).");
      return;
    }
    fileInput.files = files; // keeps the input's own "chosen file" in step with the drop
    chooseFile(files[0]);
  });
  // A file dropped beside the zone would make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  setState("idle");
  checkHealth(1000);
})();
