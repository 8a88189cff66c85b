//! The browser harness itself ([`Chromium`]): against a tiny hand-written HTTP server on
//! loopback, a form works by keyboard alone without JavaScript, axe passes an accessible
//! page and fails one with an image without alternative text (so the harness can say no),
//! downloads arrive, and the browser asks nothing of any host but the server.

use crate::support::chromium::Chromium;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const FORM: &str = r#"<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><title>Uw gegevens</title></head>
<body>
<main>
<h1>Uw gegevens</h1>
<form method="post" action="/submit">
<label for="naam">Naam</label>
<input id="naam" name="naam" type="text" autocomplete="name">
<input id="bewaren" name="bewaren" type="checkbox" value="ja">
<label for="bewaren">Bewaar mijn keuze</label>
<label for="gemeente">Gemeente</label>
<select id="gemeente" name="gemeente">
<option value="amsterdam">Amsterdam</option>
<option value="utrecht">Utrecht</option>
</select>
<button type="submit">Opslaan</button>
</form>
</main>
</body>
</html>"#;

const SAVED: &str = r#"<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><title>Opgeslagen</title></head>
<body>
<main>
<h1>Opgeslagen</h1>
<p><a href="/export" download>Download uw gegevens</a></p>
</main>
</body>
</html>"#;

/// An image without alternative text: axe must refuse it (image-alt, WCAG 1.1.1).
const BAD: &str = r#"<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><title>Fout</title></head>
<body>
<main>
<h1>Fout</h1>
<img src="/logo.png">
</main>
</body>
</html>"#;

/// Serves the pages above; records the body of every POST.
async fn serve(listener: TcpListener, posts: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let posts = posts.clone();
        tokio::spawn(async move {
            let _ = answer(stream, &posts).await;
        });
    }
}

/// Reads one request and answers it, closing the connection.
async fn answer(stream: TcpStream, posts: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let target = request_line
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let response = match target.as_str() {
        "GET /" => page(FORM),
        "POST /submit" => {
            posts
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            "HTTP/1.1 303 See Other\r\nLocation: /saved\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
                .to_owned()
        }
        "GET /saved" => page(SAVED),
        "GET /bad" => page(BAD),
        "GET /export" => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
             Content-Disposition: attachment; filename=\"gegevens.json\"\r\n\
             Content-Length: 16\r\nConnection: close\r\n\r\n{\"naam\":\"Henk\"}\n"
            .to_owned(),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    let mut stream = reader.into_inner();
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn page(html: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{html}",
        html.len()
    )
}

#[tokio::test]
async fn the_browser_harness_drives_chromium_and_can_say_no() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let posts = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, posts.clone()));
    let mut browser = Chromium::start().await;

    // Without JavaScript, by keyboard alone.
    browser.new_context(false).await;
    assert_eq!(
        browser.goto(&format!("{base}/")).await,
        (format!("{base}/"), 200)
    );
    assert!(browser.text(None).await.contains("Uw gegevens"));
    assert_eq!(browser.count(r#"role=button[name="Opslaan"]"#).await, 1);
    browser.press("Tab").await;
    let field = browser.focused().await;
    assert_eq!(
        (&field["tag"], &field["role"], &field["name"]),
        (&json!("input"), &json!("textbox"), &json!("Naam")),
        "{field}"
    );
    browser.fill("#naam", "Henk").await;
    browser.press("Tab").await;
    assert_eq!(browser.focused().await["role"], "checkbox");
    browser.press("Space").await;
    assert_eq!(browser.count("#bewaren:checked").await, 1);
    browser.uncheck("#bewaren").await;
    browser.check("#bewaren").await;
    browser.select("#gemeente", "utrecht").await;
    browser.press("Tab").await;
    browser.press("Tab").await;
    let button = browser.focused().await;
    assert_eq!(
        (&button["role"], &button["name"]),
        (&json!("button"), &json!("Opslaan")),
        "{button}"
    );
    assert_eq!(browser.press("Enter").await, format!("{base}/saved"));
    assert_eq!(
        *posts.lock().unwrap(),
        ["naam=Henk&bewaren=ja&gemeente=utrecht"]
    );
    assert!(browser.text(None).await.contains("Opgeslagen"));

    // The page as it is, at a phone's width.
    browser.goto(&format!("{base}/")).await;
    assert_eq!(
        browser.attribute("html", "lang").await.as_deref(),
        Some("nl")
    );
    assert_eq!(browser.attribute("#naam", "placeholder").await, None);
    assert!(browser.html().await.contains("<h1>Uw gegevens</h1>"));
    browser.set_viewport(320, 640).await;
    let shot = tempfile::tempdir().unwrap();
    browser
        .screenshot(&shot.path().join("form.png"), true)
        .await;
    let png = std::fs::read(shot.path().join("form.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // axe passes the accessible page and refuses the bad one, with and without JavaScript.
    assert_eq!(browser.axe().await, Vec::<serde_json::Value>::new());
    for javascript in [false, true] {
        browser.new_context_in(javascript, "nl-NL").await;
        browser.goto(&format!("{base}/bad")).await;
        let violations = browser.axe().await;
        assert!(
            violations.iter().any(|v| v["id"] == "image-alt"),
            "javascript {javascript}: {violations:?}"
        );
    }

    // With JavaScript, a click submits and lands; a download arrives; the browser asked
    // nothing of any other host.
    browser.goto(&format!("{base}/")).await;
    browser.fill("#naam", "Truus").await;
    let landed = browser.click(r#"role=button[name="Opslaan"]"#).await;
    assert_eq!(landed, format!("{base}/saved"));
    let (path, name) = browser.download("text=Download uw gegevens").await;
    assert_eq!(name, "gegevens.json");
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "{\"naam\":\"Henk\"}\n"
    );
    let requests = browser.requests().await;
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|url| url.starts_with(&base)),
        "{requests:?}"
    );

    // A bad command is an error, not the end of the driver.
    let reply = browser.call(json!({"cmd": "fly"})).await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(browser.url().await, format!("{base}/saved"));
    browser.close().await;
}
