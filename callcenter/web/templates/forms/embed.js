/* Embeds the "{{ form }}" form: <script src=".../forms/{{ form }}/embed.js" async></script>
   inserts an iframe of the hosted form right where the script tag is. */
(function () {
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src);
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || "";
  var frame = document.createElement("iframe");
  frame.src = base.origin + {{ path | tojson }} + "?embed=1" + (lang ? "&lang=" + encodeURIComponent(lang) : "");
  frame.title = {{ title | tojson }};
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.minHeight = script.getAttribute("data-height") || "{{ height }}px";
  frame.setAttribute("loading", "lazy");
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
