from django.urls import path

from apps.csat import views

urlpatterns = [path("<str:token>", views.survey_page, name="csat-survey")]
