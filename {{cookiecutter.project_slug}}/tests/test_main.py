def test_index(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Log in" in response.text


def test_index_sets_no_cookie_for_anonymous_visitors(client):
    assert "Set-Cookie" not in client.get("/").headers


def test_hello_takes_a_string_parameter(client):
    assert "Hello, Ada!" in client.get("/hello/Ada").text


def test_hello_escapes_its_parameter(client):
    response = client.get("/hello/<script>")
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_user_page_takes_an_int_parameter(client, user):
    client.post("/auth/login", data={"username": "ada", "password": "correct horse"})
    response = client.get(f"/users/{user.id}")
    assert response.status_code == 200
    assert "ada" in response.text


def test_profiles_are_a_404_to_visitors_not_logged_in(client, user):
    """Else walking /users/1, /users/2... lists every username."""
    assert client.get(f"/users/{user.id}").status_code == 404
    assert "ada" not in client.get(f"/users/{user.id}").text


def test_unknown_user_is_404(client):
    assert client.get("/users/999").status_code == 404


def test_non_integer_user_id_is_404(client):
    assert client.get("/users/abc").status_code == 404


def test_static_stylesheet(client):
    with client.get("/static/style.css") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/css"
