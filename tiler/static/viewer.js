/* KappaCat web map: the mosaic of a collection over a date range on an offline basemap, the
 * class shares of the item under the cursor, the class at a clicked point.
 *
 * Every request goes to a URL relative to this page, so the map works when the tiler is
 * served under a path prefix by a proxy. MapLibre GL JS, topojson-client and the coastlines
 * and borders (world-atlas) are served by the tiler itself: nothing is fetched from elsewhere
 * unless an online basemap is configured and switched on.
 */
(function () {
  "use strict";

  const base = new URL(".", document.baseURI).href;
  const $ = (id) => document.getElementById(id);
  const state = { config: null, map: null, marker: null, seq: 0, legend: [] };
  const BASEMAP = {
    sea: "#dbe7ef",
    land: "#f3f1ec",
    coastline: "#3f6e8c",
    border: "#a0528a",
  };
  const MASK_MINZOOM = 7;

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  /** A plain message in the panel (nothing matches, ...), with an optional "go to" date. */
  function setNotice(text, goTo) {
    $("notice").hidden = !text;
    $("notice-text").textContent = text || "";
    const button = $("notice-go");
    button.hidden = !goTo;
    button.dataset.day = goTo || "";
    button.textContent = goTo ? "Show " + goTo : "";
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

  function collectionId() {
    const checked = document.querySelector("input[name=collection]:checked");
    return checked ? checked.value : "";
  }

  function collectionTitle() {
    const found = state.config.collections.find((c) => c.id === collectionId());
    return found ? found.title : collectionId();
  }

  function maxCloud() {
    const text = $("maxcloud").value;
    return text === "" ? null : Number(text);
  }

  /** Query parameters shared by tiles, point queries, dates and footprints. */
  function searchParams(withOrder) {
    const params = new URLSearchParams();
    const start = $("start").value;
    const end = $("end").value || start;
    if (start) params.set("datetime", start + "/" + end);
    if (withOrder !== false) params.set("order", $("order").value);
    if (maxCloud() !== null) params.set("filter", "eo:cloud_cover<=" + maxCloud());
    return params;
  }

  function collectionPath() {
    return "collections/" + encodeURIComponent(collectionId());
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

  async function getJson(path) {
    const response = await fetch(base + path);
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.status + " from " + path);
    return body;
  }

  function setMasksVisible(visible) {
    for (const id of ["masks", "footprints-fill", "footprints-line"]) {
      if (state.map.getLayer(id)) {
        state.map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
      }
    }
  }

  /** The day of the nearest matching item outside the range, or null. */
  function nearestDay(dates) {
    const start = Date.parse($("start").value);
    const end = Date.parse(($("end").value || $("start").value) + "T23:59:59Z");
    const before = dates.before ? Date.parse(dates.before) : null;
    const after = dates.after ? Date.parse(dates.after) : null;
    let best = null;
    if (before !== null && (after === null || start - before <= after - end)) best = dates.before;
    else if (after !== null) best = dates.after;
    return best ? best.slice(0, 10) : null;
  }

  function filterWords() {
    return maxCloud() === null ? "" : " with cloud cover at most " + maxCloud() + " %";
  }

  function clearPoint() {
    $("info").hidden = true;
    $("info-body").replaceChildren();
    if (state.marker) {
      state.marker.remove();
      state.marker = null;
    }
  }

  function clearHover() {
    $("hover").hidden = true;
    $("hover-body").replaceChildren();
  }

  /** Redraw after a change. ``move``: the collection or filter changed, so a range without
   * data moves to the nearest date with data; a date the user picked stays, with a notice. */
  async function refresh(move) {
    const seq = ++state.seq;
    const root = document.documentElement;
    root.dataset.viewer = "busy";
    root.dataset.mapIdle = "";
    try {
      await update(move, seq);
    } finally {
      if (seq === state.seq) {
        root.dataset.viewer = "ready";
        state.map.triggerRepaint();  // so that "idle" follows even when nothing changed
      }
    }
  }

  async function update(move, seq) {
    clearPoint();
    clearHover();
    setNotice(null);
    const problem = rangeProblem();
    if (problem) {
      setMasksVisible(false);
      setStatus(problem, true);
      return;
    }
    const dates = await getJson("viewer/" + collectionPath() + "/dates.json?" +
      searchParams(false));
    if (seq !== state.seq) return;
    let moved = null;
    if (!dates.inside) {
      const day = nearestDay(dates);
      if (!day) {
        setMasksVisible(false);
        setStatus("");
        setNotice("Nothing matches: no masks in " + collectionTitle() + filterWords() + ".");
        return;
      }
      if (!move) {
        setMasksVisible(false);
        setStatus("");
        setNotice("No masks on these dates" + filterWords() + ". The nearest date with masks is " +
          day + ".", day);
        return;
      }
      $("start").value = day;
      $("end").value = day;
      moved = day;
    }
    const footprints = await getJson("viewer/" + collectionPath() + "/footprints.json?" +
      searchParams());
    if (seq !== state.seq) return;
    showMosaic(footprints);
    const end = $("end").value || $("start").value;
    const range = end === $("start").value ? $("start").value : $("start").value + " to " + end;
    let text = (moved ? "Moved to " + moved + ", the nearest date with masks" + filterWords() +
      ". " : "") + "Masks of " + range + ": " + footprints.features.length +
      (footprints.truncated ? "+" : "") + " products.";
    if (state.map.getZoom() < MASK_MINZOOM) text += " Zoom in to see them.";
    setStatus(text);
  }

  function showMosaic(footprints) {
    const map = state.map;
    const source = map.getSource("masks");
    if (source) {
      source.setTiles([tileUrl()]);
      map.getSource("footprints").setData(footprints);
    } else {
      map.addSource("masks", {
        type: "raster",
        tiles: [tileUrl()],
        tileSize: 256,
        minzoom: MASK_MINZOOM,
        maxzoom: 18,
        attribution: "KappaCat masks, CC-BY-4.0; contains modified Copernicus Sentinel data",
      });
      map.addLayer({
        id: "masks",
        type: "raster",
        source: "masks",
        paint: { "raster-resampling": "nearest", "raster-fade-duration": 0 },
      });
      map.addSource("footprints", { type: "geojson", data: footprints });
      map.addLayer({
        id: "footprints-fill",
        type: "fill",
        source: "footprints",
        paint: { "fill-color": "#000000", "fill-opacity": 0 },
      });
      map.addLayer({
        id: "footprints-line",
        type: "line",
        source: "footprints",
        paint: { "line-color": "#1d2329", "line-width": 1, "line-opacity": 0.6 },
      });
    }
    setMasksVisible(true);
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

  /** The class shares of the topmost item (in mosaic order) under a screen point. */
  function showHover(point) {
    if (!state.map.getLayer("footprints-fill")) return;
    const hits = state.map.queryRenderedFeatures(point, { layers: ["footprints-fill"] });
    if (!hits.length) {
      clearHover();
      return;
    }
    const top = hits.reduce((a, b) => (a.properties.order <= b.properties.order ? a : b));
    const props = top.properties;
    const body = $("hover-body");
    body.replaceChildren();
    const head = document.createElement("p");
    head.className = "product";
    head.textContent = props.id + " · " + String(props.datetime).slice(0, 16).replace("T", " ") +
      " · cloud cover " + Number(props["eo:cloud_cover"]).toFixed(1) + " %";
    const shares = document.createElement("ul");
    shares.className = "shares";
    for (const cls of state.legend) {
      const value = props["kappacat:" + cls.name + "_percentage"];
      if (!cls.value || value === undefined || value === null) continue;
      const li = document.createElement("li");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(0, Math.min(100, Number(value))) + "%";
      bar.style.background = cls.color || "transparent";
      li.append(swatch(cls.color), document.createTextNode(cls.title + " " +
        Number(value).toFixed(1) + " %"), bar);
      shares.append(li);
    }
    body.append(head, shares);
    $("hover").hidden = false;
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
    if (rangeProblem() || !$("notice").hidden) return;
    const seq = state.seq;
    const url = collectionPath() + "/point/" + lngLat.lng.toFixed(6) + "," +
      lngLat.lat.toFixed(6) + "?" + searchParams();
    const answer = await getJson(url);
    if (seq !== state.seq) return;  // the dates or collection changed meanwhile
    clearPoint();
    state.marker = new maplibregl.Marker({ color: "#1d2329", scale: 0.7 })
      .setLngLat(lngLat).addTo(state.map);
    renderPoint(answer);
  }

  function fillControls(config) {
    const list = $("collection-list");
    const wanted = new URLSearchParams(window.location.search);
    const first = config.collections.find((c) => c.id === wanted.get("collection")) ||
      config.collections.find((c) => c.latest) || config.collections[0];
    for (const collection of config.collections) {
      const label = document.createElement("label");
      label.className = "collection";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "collection";
      input.value = collection.id;
      input.checked = Boolean(first && first.id === collection.id);
      const text = document.createElement("span");
      const title = document.createElement("span");
      title.className = "collection-title";
      title.textContent = collection.title;
      const detail = document.createElement("span");
      detail.className = "collection-id";
      detail.textContent = collection.id + (collection.latest ? "" : " · no masks yet");
      text.append(title, detail);
      label.append(input, text);
      list.append(label);
    }
    const latestDay = first && first.latest && first.latest.datetime
      ? first.latest.datetime.slice(0, 10) : "";
    $("start").value = wanted.get("start") || latestDay;
    $("end").value = wanted.get("end") || $("start").value;
    if (wanted.get("maxcloud")) $("maxcloud").value = wanted.get("maxcloud");
    return first;
  }

  /** The offline basemap: land, coastlines and country borders from world-atlas. */
  async function addBasemap(map, config) {
    const topo = await (await fetch(base + "static/vendor/countries-50m.json")).json();
    const countries = topo.objects.countries;
    map.addSource("land", { type: "geojson", data: topojson.feature(topo, topo.objects.land) });
    map.addSource("coastline", {
      type: "geojson", data: topojson.mesh(topo, countries, (a, b) => a === b),
    });
    map.addSource("borders", {
      type: "geojson", data: topojson.mesh(topo, countries, (a, b) => a !== b),
    });
    map.addLayer({ id: "land", type: "fill", source: "land",
      paint: { "fill-color": BASEMAP.land } });
    if (config.basemap_url) {
      map.addSource("online", { type: "raster", tiles: [config.basemap_url], tileSize: 256,
        attribution: config.basemap_attribution || "" });
      map.addLayer({ id: "online", type: "raster", source: "online",
        layout: { visibility: $("online").checked ? "visible" : "none" } });
    }
    map.addLayer({ id: "coastline", type: "line", source: "coastline",
      paint: { "line-color": BASEMAP.coastline, "line-width": 1.6 } });
    map.addLayer({ id: "borders", type: "line", source: "borders",
      paint: { "line-color": BASEMAP.border, "line-width": 1.4, "line-dasharray": [3, 1.5] } });
  }

  async function start() {
    const config = await getJson("viewer/config.json");
    state.config = config;
    state.legend = config.legend;
    document.title = config.title;
    $("title").textContent = config.title;
    renderLegend(config.legend);
    const first = fillControls(config);
    if (config.basemap_url) {
      $("online-switch").hidden = false;
      $("online").checked = true;
    }

    const style = {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": BASEMAP.sea } }],
    };
    const map = new maplibregl.Map({ container: "map", style, center: [10, 50], zoom: 4 });
    state.map = map;
    window.kappacatMap = map;
    map.addControl(new maplibregl.NavigationControl(), "top-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-right");
    map.on("idle", () => { document.documentElement.dataset.mapIdle = "1"; });
    map.on("click", (event) => {
      showHover(event.point);
      queryPoint(event.lngLat.wrap()).catch((err) => setStatus(String(err.message || err), true));
    });
    map.on("mousemove", (event) => showHover(event.point));
    map.on("mouseout", clearHover);
    // A point answer belongs to the view it was asked in: moving the map clears it.
    map.on("movestart", (event) => { if (event.originalEvent) clearPoint(); });
    map.on("load", () => {
      if (first && first.latest && first.latest.bbox) {
        const b = first.latest.bbox;
        map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 20, animate: false });
      }
      addBasemap(map, config)
        .catch((err) => setStatus("The basemap could not load: " + err, true))
        .then(() => refresh(!new URLSearchParams(window.location.search).get("start")))
        .catch((err) => setStatus(String(err.message || err), true));
    });
    const onChange = (move) => () => {
      refresh(move).catch((err) => setStatus(String(err.message || err), true));
    };
    $("collection-list").addEventListener("change", onChange(true));
    $("maxcloud").addEventListener("change", onChange(true));
    for (const id of ["start", "end", "order"]) $(id).addEventListener("change", onChange(false));
    $("online").addEventListener("change", () => {
      if (map.getLayer("online")) {
        map.setLayoutProperty("online", "visibility", $("online").checked ? "visible" : "none");
      }
    });
    $("notice-go").addEventListener("click", () => {
      $("start").value = $("notice-go").dataset.day;
      $("end").value = $("notice-go").dataset.day;
      onChange(false)();
    });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
  }

  start().catch((err) => setStatus("The map could not start: " + err, true));
})();
