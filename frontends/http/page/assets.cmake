# The page's files: <file in this folder>|<URL path>|<type>, where the type
# (html, js, css, svg, png) gives the Content-Type (embed.cmake).
set(PAGE_ASSETS
  "index.html|/index.html|html"
  "app.js|/assets/app.js|js"
  "style.css|/assets/style.css|css")
