"""The inline CSS and JavaScript of a run page (no CDN, no build step).

The script reads the sample data from one JSON blob and builds the DOM of the entries that pass the filters in
windows of ``CHUNK`` as the reader scrolls. Every piece of user or model text reaches the page through
``textContent`` or an attribute, never as markup.
"""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#f5f6f8}
header.top,main{max-width:1180px;margin:0 auto;padding:12px 18px}
h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:18px 0 6px}h4{margin:8px 0 4px;font-size:13px;color:#445}
table{border-collapse:collapse;background:#fff;font-size:12.5px}td,th{border:1px solid #d8dce2;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#eef1f5}.num{text-align:right;font-variant-numeric:tabular-nums}
.facts td:first-child{color:#556;white-space:nowrap}.flags{color:#8a5300;max-width:420px}
#controls{position:sticky;top:0;z-index:2;background:#e9edf2;padding:8px 18px;border-bottom:1px solid #cfd5dc;
display:flex;flex-wrap:wrap;gap:8px;align-items:center}#controls input[type=number]{width:70px}
#controls input[type=search]{width:200px}#count{font-weight:600;margin-left:auto}
.entry{background:#fff;border:1px solid #d8dce2;border-radius:6px;margin:10px 0;padding:8px 12px}
.entry.failed{border-left:4px solid #c0392b}.entry>header{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.sid{font-weight:700;font-family:ui-monospace,monospace}.badge{background:#eef1f5;border-radius:10px;padding:0 8px;
font-size:12px}.badge.bad{background:#fde2df;color:#8b1d12}.badge.score{background:#e3f1e6}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}@media(max-width:900px){.cols{grid-template-columns:1fr}}
.txt{white-space:pre-wrap;word-break:break-word}.media{display:inline-block;vertical-align:top;margin:4px;
padding:4px;border:1px solid #e1e4e8;border-radius:4px;background:#fafbfc;max-width:100%}
.media img{max-width:360px;max-height:280px;display:block}.media video{max-width:360px;display:block}
.media .cap{font-size:11.5px;color:#556}.tag{font-family:ui-monospace,monospace;font-size:12px;color:#2457a6}
pre.code,pre.doc{background:#f6f8fa;border:1px solid #e1e4e8;padding:6px;overflow:auto;max-height:320px;
font-size:12px;margin:2px 0}.kw{color:#a626a4}.str{color:#50a14f}.com{color:#8a8f98;font-style:italic}
.nm{color:#986801}.reason{color:#8b1d12}.note{color:#8a5300;font-size:12px}
.align span{padding:0 2px;border-radius:3px}.align .sub{background:#fff2b3}.align .del{background:#fde2df;
text-decoration:line-through}.align .ins{background:#dff5e1}.judge{border-top:1px dashed #d8dce2;margin-top:8px}
details>summary{cursor:pointer;color:#2457a6;font-size:12.5px}ol.top li.pos{font-weight:600;color:#1e7b34}
.scroll{max-height:340px;overflow:auto;display:inline-block}#sentinel{height:40px}
.item{margin:2px 0;padding-left:6px;border-left:2px solid #e1e4e8}
"""

JS = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("run-data").textContent);
var E = D.entries, CHUNK = 30, TAG = /<((?:image|audio|video|document|code|threeD)\d+)>/g;
var list = document.getElementById("entries"), count = document.getElementById("count");
var shown = [], rendered = 0, HAY = null;
var KW = new RegExp("^(" + ["def class return if else elif for while in import from as with try except finally",
  "raise not and or is None True False lambda yield pass function const let var new public private static void",
  "int float double char include struct fn pub impl use match async await"].join(" ").split(" ").join("|") + ")$");
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function code(src) {
  var m = /^```([\w+-]*)\n?([\s\S]*?)\n?```\s*$/.exec(src.trim());
  var body = m ? m[2] : src, pre = el("pre", "code");
  var re = new RegExp(["(#[^\\n]*|//[^\\n]*|/\\*[\\s\\S]*?\\*/)",
      "(\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\\\n])*')",
    "(\\b\\d+(?:\\.\\d+)?\\b)", "([A-Za-z_]\\w*)"].join("|"), "g");
  var last = 0, t;
  while ((t = re.exec(body)) !== null) {
    if (t.index > last) pre.appendChild(document.createTextNode(body.slice(last, t.index)));
    var cls = t[1] ? "com" : t[2] ? "str" : t[3] ? "nm" : KW.test(t[4]) ? "kw" : "";
    pre.appendChild(cls ? el("span", cls, t[0]) : document.createTextNode(t[0]));
    last = re.lastIndex;
  }
  pre.appendChild(document.createTextNode(body.slice(last)));
  return pre;
}
function media(it) {
  var box = el("span", "media"), show = it.show;
  if (it.t === "code") box.appendChild(code(it.v || ""));
  else if (show === "img") { var im = el("img"); im.loading = "lazy"; im.alt = it.name || it.tag; im.src = it.src;
    box.appendChild(im); }
  else if (show === "audio") { var au = el("audio"); au.controls = true; au.preload = "none"; au.src = it.src;
    box.appendChild(au); }
  else if (show === "video") { var vi = el("video"); vi.controls = true; vi.preload = "metadata"; vi.src = it.src;
    box.appendChild(vi); }
  else if (show === "text") box.appendChild(el("pre", "doc", it.v));
  var cap = el("div", "cap");
  if (it.tag) cap.appendChild(el("span", "tag", "<" + it.tag + "> "));
  if (it.file || (it.src && show !== "img" && show !== "audio" && show !== "video")) {
    var a = el("a", "", it.name || "file"); a.href = it.file || it.src; cap.appendChild(a);
  } else if (it.name) cap.appendChild(document.createTextNode(it.name));
  if (it.note) cap.appendChild(el("span", "note", " " + it.note));
  box.appendChild(cap);
  return box;
}
function tagged(text, byTag) {
  var out = el("span", "txt"), last = 0, m;
  TAG.lastIndex = 0;
  while ((m = TAG.exec(text)) !== null) {
    out.appendChild(document.createTextNode(text.slice(last, m.index)));
    out.appendChild(byTag[m[1]] ? media(byTag[m[1]]) : el("span", "tag", m[0]));
    last = TAG.lastIndex;
  }
  out.appendChild(document.createTextNode(text.slice(last)));
  return out;
}
function parts(list, extra) {
  var out = el("div", "txt"), byTag = {}, cited = {};
  Object.keys(extra || {}).forEach(function (k) { byTag[k] = extra[k]; });
  list.forEach(function (p) { if (p.tag && p.t !== "text") byTag[p.tag] = p; });
  list.forEach(function (p) { if (p.t === "text") { var m; TAG.lastIndex = 0;
    while ((m = TAG.exec(p.v)) !== null) cited[m[1]] = 1; } });
  list.forEach(function (p) {
    if (p.t === "text" && p.tag) {  // a labelled text item (a retrieval query or candidate)
      var box = el("div", "item"); box.appendChild(el("span", "tag", p.tag + ": "));
      box.appendChild(document.createTextNode(p.v)); out.appendChild(box);
    } else if (p.t === "text") out.appendChild(tagged(p.v, byTag));
    else if (!(p.tag && cited[p.tag])) out.appendChild(media(p));
  });
  return out;
}
function tagsOf(list) { var m = {}; list.forEach(function (p) { if (p.tag && p.t !== "text") m[p.tag] = p; }); return m;
  }
function section(title, node) { var s = el("section"); s.appendChild(el("h4", "", title)); s.appendChild(node);
  return s; }
function fmt(v) { return typeof v === "number" ? (Math.round(v * 10000) / 10000).toString() : String(v); }
function family(f) {
  var box = el("div");
  if (f.kind === "asr") {
    var al = el("div", "align txt");
    f.align.forEach(function (c) {
      if (c[0] === "eq") al.appendChild(el("span", "", c[1]));
      else if (c[0] === "sub") { var s = el("span", "sub"); s.title = "substitution: " + c[1] + " -> " + c[2];
        s.appendChild(el("del", "", c[1])); s.appendChild(document.createTextNode(" → "));
        s.appendChild(el("ins", "", c[2])); al.appendChild(s); }
      else if (c[0] === "del") { var d = el("span", "del", c[1]); d.title = "deletion"; al.appendChild(d); }
      else { var n = el("span", "ins", "+" + c[2]); n.title = "insertion"; al.appendChild(n); }
      al.appendChild(document.createTextNode(" "));
    });
    var c = f.counts;
    box.appendChild(section("Alignment (S " + c.substitutions + ", D " + c.deletions + ", I " + c.insertions
        + ", hits " + c.hits + " of " + c.ref_len + ")", al));
  } else if (f.kind === "choice") {
    box.appendChild(el("div", "", "extracted choice: " + (f.extracted || "none") + " · gold: " + (f.gold || "?")
        + " · rule: " + (f.rule || "")));
    if (f.extractor_reply) box.appendChild(el("div", "txt note", "extractor reply: " + f.extractor_reply));
  } else if (f.kind === "retrieval") {
    var ol = el("ol", "top");
    f.top.forEach(function (c) {
      var li = el("li", c.positive ? "pos" : "", c.id + (c.text ? ": " + c.text : "") + (c.positive ? "  ✔ positive"
          : ""));
      ol.appendChild(li); });
    box.appendChild(section("Top " + f.top.length + " candidates (positive ranks: " + JSON.stringify(f.positives)
        + ")", ol));
  }
  return box;
}
function judge(name, j) {
  var box = el("div", "judge");
  box.appendChild(el("h4", "", "Judge " + name));
  var sc = Object.keys(j.scores || {});
  if (sc.length) { var t = el("div"); sc.forEach(function (k) {
    t.appendChild(el("span", "badge score", k + " = " + fmt(j.scores[k]))); t.appendChild(document.createTextNode(" "));
    }); box.appendChild(t); }
  if (j.stage) box.appendChild(el("div", "reason", "failed at " + j.stage + ": " + j.reason));
  Object.keys(j.metric_errors || {}).forEach(function (k) {
    box.appendChild(el("div", "note", k + ": " + j.metric_errors[k])); });
  if (j.family && j.family.kind) box.appendChild(family(j.family));
  var caps = Object.keys(j.captions || {});
  if (caps.length) { var cl = el("ul"); caps.forEach(function (k) { var li = el("li");
    li.appendChild(el("span", "tag", "<" + k + "> ")); li.appendChild(document.createTextNode(j.captions[k]));
    cl.appendChild(li); }); box.appendChild(section("Captions the judge saw", cl)); }
  var more = [["What the judge saw: question", j.saw && j.saw.question], ["What the judge saw: answer",
      j.saw && j.saw.content], ["Raw reply", j.raw], ["Details", j.details]];
  more.forEach(function (m) { if (m[1]) { var d = el("details"); d.appendChild(el("summary", "", m[0]));
    d.appendChild(el("pre", "doc", m[1])); box.appendChild(d); } });
  return box;
}
function entry(e) {
  var art = el("article", "entry" + (e.failed ? " failed" : ""));
  art.id = "s-" + e.id; art.setAttribute("data-id", e.id);
  var h = el("header");
  h.appendChild(el("span", "sid", e.id));
  Object.keys(e.meta).forEach(function (k) { h.appendChild(el("span", "badge", k + ": " + e.meta[k])); });
  if (e.failed) h.appendChild(el("span", "badge bad", "failed"));
  art.appendChild(h);
  var cols = el("div", "cols"), left = el("div"), right = el("div");
  left.appendChild(section("Prompt", e.prompt.length ? parts(e.prompt) : el("div", "note", D.note
      || "prompt not available")));
  var a = e.answer, ans = a.error && !a.text ? el("div", "reason", "prediction failed: " + a.error) : tagged(a.text,
      a.media || {});
  right.appendChild(section("Prediction" + (a.latency_s ? " (" + a.latency_s + " s)" : ""), ans));
  var sent = Object.keys(a.handling || {});
  if (sent.length) {  // what the model was given for each media item (file, frames, a description, a note)
    var hd = el("details"), ul = el("ul");
    hd.appendChild(el("summary", "", "What the model was sent for " + sent.length + " media item(s)"));
    sent.forEach(function (k) { ul.appendChild(el("li", "", k + ": " + JSON.stringify(a.handling[k]))); });
    hd.appendChild(ul); right.appendChild(hd);
  }
  if (e.reference.length) right.appendChild(section(e.reference.length > 1 ? "References" : "Reference",
      parts(e.reference, tagsOf(e.prompt))));
  cols.appendChild(left); cols.appendChild(right); art.appendChild(cols);
  Object.keys(e.judges).forEach(function (k) { art.appendChild(judge(k, e.judges[k])); });
  return art;
}
function value(e, key) {
  var i = key.indexOf("/"), j = e.judges[key.slice(0, i)];
  var v = j && j.scores ? j.scores[key.slice(i + 1)] : undefined;
  return typeof v === "number" ? v : null;
}
function haystack() {
  HAY = E.map(function (e) {
    var t = [e.id, e.answer.text, e.answer.error];
    e.prompt.concat(e.reference).forEach(function (p) { if (p.v) t.push(p.v); if (p.name) t.push(p.name); });
    Object.keys(e.judges).forEach(function (k) { t.push(e.judges[k].reason); });
    return t.join("\n").toLowerCase();
  });
}
var FIELDS = ["subset", "domain", "difficulty", "metric", "min", "max", "q", "sort"];
function state() {
  var p = new URLSearchParams(location.hash.slice(1)), s = {};
  FIELDS.forEach(function (k) { s[k] = p.get(k) || ""; });
  s.failed = p.get("failed") === "1";
  if (!s.metric) s.metric = D.metrics.length ? D.metrics[0] : "";
  return s;
}
function control(id) { return document.getElementById("f-" + id); }
function sync(s) {
  FIELDS.forEach(function (k) { var c = control(k); if (c && c.value !== s[k]) c.value = s[k]; });
  control("failed").checked = s.failed;
}
function more() {
  var end = Math.min(rendered + CHUNK, shown.length), frag = document.createDocumentFragment();
  for (var i = rendered; i < end; i++) frag.appendChild(entry(E[shown[i]]));
  list.appendChild(frag); rendered = end;
}
function apply() {
  var t0 = performance.now(), s = state();
  sync(s);
  if (HAY === null) haystack();
  var lo = parseFloat(s.min), hi = parseFloat(s.max), q = s.q.toLowerCase(), ranged = !isNaN(lo) || !isNaN(hi);
  shown = [];
  for (var i = 0; i < E.length; i++) {
    var e = E[i], m = e.meta;
    if ((s.subset && m.subset !== s.subset) || (s.domain && m.domain !== s.domain)
        || (s.difficulty && m.difficulty !== s.difficulty)) continue;
    if (s.failed && !e.failed) continue;
    if (ranged) { var v = value(e, s.metric);
      if (v === null || (!isNaN(lo) && v < lo) || (!isNaN(hi) && v > hi)) continue; }
    if (q && HAY[i].indexOf(q) < 0) continue;
    shown.push(i);
  }
  if (s.sort === "asc" || s.sort === "desc") {
    var sign = s.sort === "asc" ? 1 : -1;
    shown.sort(function (x, y) {
      var a = value(E[x], s.metric), b = value(E[y], s.metric);
      if (a === null) return b === null ? x - y : 1;
      if (b === null) return -1;
      return a === b ? x - y : sign * (a - b);
    });
  }
  list.textContent = ""; rendered = 0; more();
  count.textContent = shown.length + " of " + E.length + " samples";
  count.setAttribute("data-shown", String(shown.length));
  document.body.setAttribute("data-filter-ms", (performance.now() - t0).toFixed(1));
}
function write() {
  var p = new URLSearchParams();
  FIELDS.forEach(function (k) { var c = control(k); if (c && c.value) p.set(k, c.value); });
  if (control("failed").checked) p.set("failed", "1");
  location.hash = p.toString();
}
function fill(id, values) {
  var c = control(id);
  values.forEach(function (v) { var o = el("option", "", v); o.value = v; c.appendChild(o); });
}
["subset", "domain", "difficulty"].forEach(function (k) {
  var seen = {};
  E.forEach(function (e) { if (e.meta[k]) seen[e.meta[k]] = 1; });
  fill(k, Object.keys(seen).sort());
});
fill("metric", D.metrics);
FIELDS.concat(["failed"]).forEach(function (k) { var c = control(k);
  c.addEventListener(c.type === "search" || c.type === "number" ? "input" : "change", write); });
window.addEventListener("hashchange", apply);
new IntersectionObserver(function (es) { if (es[0].isIntersecting && rendered < shown.length) more();
  }).observe(document.getElementById("sentinel"));
apply();
document.body.setAttribute("data-ready-ms", performance.now().toFixed(1));
if (/(^|&)bench=1/.test(location.hash.slice(1))) {
  var runs = {}, base = location.hash.slice(1);
  [["failed", "failed=1"], ["search", "q=the"], ["range", "min=0.5"], ["sort", "sort=desc"], ["none",
      ""]].forEach(function (b) {
    history.replaceState(null, "", "#" + b[1]); apply();
      runs[b[0]] = parseFloat(document.body.getAttribute("data-filter-ms"));
  });
  history.replaceState(null, "", "#" + base);
  document.body.setAttribute("data-bench", JSON.stringify(runs));
}
})();
"""
