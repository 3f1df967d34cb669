from django.urls import path

from bench.baseline import baseline_inbound

urlpatterns = [path("bench/baseline", baseline_inbound)]
