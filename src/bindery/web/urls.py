from django.contrib.auth.decorators import login_required
from django.urls import path

from bindery.web import views, views_tokens

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("account/password/", login_required(views.PasswordChangeView.as_view()), name="password_change"),
    path("settings/tokens/", views_tokens.token_list, name="tokens"),
    path("settings/tokens/<str:token_id>/revoke/", views_tokens.token_revoke, name="token_revoke"),
]
