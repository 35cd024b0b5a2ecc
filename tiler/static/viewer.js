/* KappaCat web map: the mosaic of a collection over a date range, the class at a clicked point.
 *
 * Every request goes to a URL relative to this page, so the map works when the tiler is
 * served under a path prefix by a proxy. MapLibre GL JS is served by the tiler itself.
 */
(function () {
  "use strict";

  const base = new URL(".", document.baseURI).href;
  const $ = (id) => document.getElementById(id);
  const state = { config: null, map: null, popup: null };

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  function swatch(color) {
    const el = document.createElement("span");
    el.className = color ? "swatch" : "swatch transparent";
    if (color) el.style.background = color;
    return el;
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    a.textContent = text;
    return a;
  }

  /** Query parameters shared by the tiles and the point query: dates, order, cloud filter. */
  function searchParams() {
    const params = new URLSearchParams();
    const start = $("start").value;
    const end = $("end").value || start;
    if (start) params.set("datetime", start + "/" + end);
    params.set("order", $("order").value);
    const maxCloud = $("maxcloud").value;
    if (maxCloud !== "") params.set("filter", "eo:cloud_cover<=" + Number(maxCloud));
    return params;
  }

  function collectionPath() {
    return "collections/" + encodeURIComponent($("collection").value);
  }

  function tileUrl() {
    const tms = state.config.tile_matrix_set;
    // Braces must stay literal for MapLibre: build the template by concatenation.
    return base + collectionPath() + "/tiles/" + tms + "/{z}/{x}/{y}.png?" + searchParams();
  }

  /** Why the chosen dates cannot be shown, or null. */
  function rangeProblem() {
    const start = $("start").value;
    const end = $("end").value || start;
    if (!start) return "Pick a date to see the masks.";
    if (end < start) return "The end date is before the start date.";
    const days = (Date.parse(end) - Date.parse(start)) / 86400000 + 1;
    const most = state.config.max_date_range_days;
    if (days > most) return "Pick at most " + most + " days.";
    return null;
  }

  function showMosaic() {
    const map = state.map;
    document.documentElement.dataset.mapIdle = "";
    const problem = rangeProblem();
    if (map.getLayer("masks")) {
      map.setLayoutProperty("masks", "visibility", problem ? "none" : "visible");
    }
    if (problem) {
      setStatus(problem, true);
      return;
    }
    const source = map.getSource("masks");
    if (source) {
      source.setTiles([tileUrl()]);
    } else {
      map.addSource("masks", {
        type: "raster",
        tiles: [tileUrl()],
        tileSize: 256,
        minzoom: 7,
        maxzoom: 18,
        attribution: "KappaCat masks, CC-BY-4.0; contains modified Copernicus Sentinel data",
      });
      map.addLayer({
        id: "masks",
        type: "raster",
        source: "masks",
        paint: { "raster-resampling": "nearest", "raster-fade-duration": 0 },
      });
    }
    const end = $("end").value || $("start").value;
    const range = end === $("start").value ? $("start").value : $("start").value + " to " + end;
    setStatus("Masks of " + range + (map.getZoom() < 7 ? " (zoom in to see them)" : ""));
  }

  function renderLegend(legend) {
    const list = $("legend");
    list.replaceChildren();
    for (const cls of legend) {
      const li = document.createElement("li");
      li.append(swatch(cls.color), document.createTextNode(cls.title));
      list.append(li);
    }
  }

  function renderPoint(answer) {
    const body = $("info-body");
    body.replaceChildren();
    $("info").hidden = false;
    const shown = answer.items.find((item) => item.value !== 0);
    if (!shown) {
      body.textContent = answer.items.length
        ? "No data here in the products of these dates."
        : "No product covers this point on these dates.";
      return;
    }
    const top = document.createElement("p");
    top.className = "top";
    top.append(swatch(shown.color), document.createTextNode(shown.title));
    const product = document.createElement("p");
    product.className = "product";
    const item = shown.links.find((l) => l.rel === "item");
    product.append(
      document.createTextNode(shown.datetime + " · cloud cover " + shown["eo:cloud_cover"] + " %"),
      document.createElement("br"),
      item ? link(item.href, shown.id) : document.createTextNode(shown.id),
    );
    body.append(top, product);
    if (answer.items.length > 1) {
      const all = document.createElement("ol");
      for (const other of answer.items) {
        const li = document.createElement("li");
        const otherLink = other.links.find((l) => l.rel === "item");
        li.append(swatch(other.color), document.createTextNode(other.title + " · "));
        li.append(otherLink ? link(otherLink.href, other.datetime) : other.datetime);
        all.append(li);
      }
      const caption = document.createElement("p");
      caption.textContent = "Every product of these dates, in mosaic order:";
      body.append(caption, all);
    }
  }

  async function queryPoint(lngLat) {
    if (rangeProblem()) return;
    const url = base + collectionPath() + "/point/" + lngLat.lng.toFixed(6) + "," +
      lngLat.lat.toFixed(6) + "?" + searchParams();
    const response = await fetch(url);
    const answer = await response.json();
    if (!response.ok) {
      setStatus(answer.detail || "The point query failed.", true);
      return;
    }
    renderPoint(answer);
  }

  function fillControls(config) {
    const select = $("collection");
    for (const collection of config.collections) {
      const option = document.createElement("option");
      option.value = collection.id;
      option.textContent = collection.title;
      select.append(option);
    }
    const wanted = new URLSearchParams(window.location.search);
    const first = config.collections.find((c) => c.id === wanted.get("collection")) ||
      config.collections.find((c) => c.latest) || config.collections[0];
    if (first) select.value = first.id;
    const latestDay = first && first.latest && first.latest.datetime
      ? first.latest.datetime.slice(0, 10) : "";
    $("start").value = wanted.get("start") || latestDay;
    $("end").value = wanted.get("end") || $("start").value;
    return first;
  }

  async function start() {
    const response = await fetch(base + "viewer/config.json");
    const config = await response.json();
    state.config = config;
    document.title = config.title;
    $("title").textContent = config.title;
    renderLegend(config.legend);
    const first = fillControls(config);

    const style = {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#e6eaee" } }],
    };
    if (config.basemap_url) {
      style.sources.basemap = { type: "raster", tiles: [config.basemap_url], tileSize: 256 };
      style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    const map = new maplibregl.Map({ container: "map", style, center: [10, 50], zoom: 4 });
    state.map = map;
    window.kappacatMap = map;
    map.addControl(new maplibregl.NavigationControl(), "top-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-right");
    map.on("idle", () => { document.documentElement.dataset.mapIdle = "1"; });
    map.on("click", (event) => {
      queryPoint(event.lngLat.wrap()).catch((err) => setStatus(String(err), true));
    });
    map.on("load", () => {
      if (first && first.latest && first.latest.bbox) {
        const b = first.latest.bbox;
        map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 20, animate: false });
      }
      showMosaic();
    });
    for (const id of ["collection", "start", "end", "order", "maxcloud"]) {
      $(id).addEventListener("change", showMosaic);
    }
    $("controls").addEventListener("submit", (event) => event.preventDefault());
  }

  start().catch((err) => setStatus("The map could not start: " + err, true));
})();
