app_name = "editor"
urlpatterns: list = []
