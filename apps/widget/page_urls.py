"""The widget's public pages, included at the site root: `/widget.js` and `/widget/demo/`."""

from django.urls import path

from apps.widget import pages

urlpatterns = [
    path("widget.js", pages.widget_js, name="widget-loader"),
    path("widget/demo/", pages.demo, name="widget-demo"),
]
