"""The DOM fallback on patterns of real retailer pages that publish no product markup (or
markup without an identifier), each on a small fixture written here: a price under a
subtitle heading or with no price-named element, a strikethrough marked by an attribute, a
GTIN printed next to its label, the page's id shared by its URL and its content, a sold-out
page with neither price nor cart button; and what it must still refuse."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from scrapers.extraction import extract_product

URL = "https://books.example/article/7466710-the-legend-of-darkseid"


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><header><form action='/search'><input name='q'></form></header>{body}</body></html>"


BOOK = page(
    '<div class="col"><h1><span>The Legend of Darkseid</span></h1><h2>Ostrander, John</h2>'
    "<ul><li>EAN13 : <strong>9782365775717</strong></li><li>Pages : <strong>256</strong></li></ul>"
    '<form class="offers" action="/add-to-cart/" method="post">'
    '<div><div class="box">Reservation</div><ul><li><label><div>New</div><strong>Not available</strong></label></li></ul></div>'
    '<div><div class="box">Shipping</div><ul><li><label><div>New</div><strong>22,50 €</strong></label></li></ul></div>'
    '<button type="submit">Confirm</button></form></div>'
    '<script>shop.contributions("/ws/contributions/", 7466710, "/ws/cells/");</script>'
)


def test_a_price_with_no_price_name_in_the_cart_form_under_a_subtitle_heading():
    p = extract_product(BOOK, URL)
    assert (p["title"], p["price"], p["currency"], p["availability"]) == (
        "The Legend of Darkseid",
        Decimal("22.50"),
        "EUR",
        "in_stock",
    )


def test_a_price_named_element_under_a_subtitle_heading():
    html = page(
        '<h1>Trail Shoe</h1><h2 class="subtitle">Waterproof, for wet trails</h2>'
        '<p class="product-price">€ 89,95</p><button>Add to cart</button>'
    )
    assert extract_product(html, URL)["price"] == Decimal("89.95")


def test_a_gtin_printed_next_to_its_label_and_the_id_the_url_shares_with_the_page():
    p = extract_product(BOOK, URL)
    assert (p["gtin"], p["sku"]) == ("9782365775717", "7466710")


def test_a_label_value_that_is_not_a_valid_gtin_is_no_gtin():
    assert extract_product(BOOK.replace("9782365775717", "9782365775718"), URL)["gtin"] is None


def test_the_url_id_shared_with_an_element_or_a_query_parameter():
    body = '<h1>Trail Shoe</h1><span class="price">€ 10,00</span><button>Add to bag</button>'
    shown = page(body + '<div>Item number:</div><div id="desc-item-number">302474151804</div>')
    assert extract_product(shown, "https://market.example/itm/302474151804")["sku"] == "302474151804"
    query = page(body + '<div data-product-ref="260591"></div>')
    assert extract_product(query, "https://deals.example/store/122725?pid=260591")["sku"] == "260591"
    prefixed = page(body + '<input type="hidden" name="productId" value="400105394">')
    assert extract_product(prefixed, "https://shop.example/rack-p400105394.html")["sku"] == "400105394"
    ad = page(body + '<input type="hidden" name="adId" value="278526196">')
    assert extract_product(ad, "https://ads.example/tv/c7200a278526196/remote.html")["sku"] == "278526196"


def test_of_the_url_ids_the_page_repeats_the_one_it_prints_wins():
    body = (
        '<h1>Diner Puzzle</h1><span class="price">$14.99</span><button>Add to cart</button>'
        '<div class="reviews">ID :\n2015000148</div><script>var prodId = "prod2015000148";</script>'
    )
    assert extract_product(page(body), "https://shop.example/diner-puzzle/prod2015000148/")["sku"] == "2015000148"
    unprinted = body.replace("ID :\n2015000148", "Reviews")
    assert (
        extract_product(page(unprinted), "https://shop.example/diner-puzzle/prod2015000148/")["sku"] == "prod2015000148"
    )


def test_no_sku_from_a_url_id_the_page_does_not_repeat():
    body = '<h1>Trail Shoe</h1><span class="price">€ 10,00</span><button>Add to bag</button>'
    assert extract_product(page(body), "https://shop.example/p/TS4711X")["sku"] is None


def test_structured_data_without_an_identifier_takes_the_one_the_url_shares_with_the_page():
    product = {"@type": "Product", "name": "Trail Shoe", "offers": {"@type": "Offer", "price": "10.00"}}
    ld = f'<script type="application/ld+json">{json.dumps(product)}</script>'
    html = page('<h1>Trail Shoe</h1><input type="hidden" name="item" value="TS4711X">', head=ld)
    p = extract_product(html, "https://shop.example/p/TS4711X")
    assert (p["price"], p["sku"]) == (Decimal("10.00"), "TS4711X")
    with_sku = {**product, "sku": "LD-1"}
    html = html.replace(json.dumps(product), json.dumps(with_sku))
    assert extract_product(html, "https://shop.example/p/TS4711X")["sku"] == "LD-1"


def test_a_sold_out_page_with_neither_price_nor_cart_button():
    html = page(
        '<div id="centerCol"><h1 id="title"><span id="productTitle">Organic Oats 1kg</span></h1>'
        '<div id="availability"><span>Currently unavailable.</span><br>'
        "We don't know when or if this item will be back in stock.</div></div>"
        '<form id="addToList"><input type="hidden" id="ASIN" name="ASIN" value="B07FW264WL">'
        '<input type="submit" value="Add to List"></form>'
        '<div class="carousel"><h2>Customers also viewed</h2><div class="card"><span class="price">$4.99</span></div></div>'
    )
    p = extract_product(html, "https://market.example/dp/B07FW264WL")
    assert (p["title"], p["price"], p["availability"], p["sku"]) == (
        "Organic Oats 1kg",
        None,
        "out_of_stock",
        "B07FW264WL",
    )


def test_a_page_without_its_own_price_takes_none_from_a_carousel_of_other_products():
    html = page(
        "<h1>Trail Shoe</h1><p>See all buying options</p><button>Add to cart</button>"
        '<div class="carousel"><h2>Customers also viewed</h2>'
        '<div class="card"><span class="price">$4.99</span></div><div class="card"><span class="price">$5.99</span></div></div>'
    )
    assert extract_product(html, URL) is None


def test_a_strikethrough_marked_by_an_attribute_is_not_the_price():
    html = page(
        '<h1>Trail Shoe</h1><div class="price-block">'
        '<span class="a-price" data-a-strike="true"><span class="offscreen">$99.99</span></span>'
        '<span class="a-price"><span class="offscreen">$87.11</span></span></div><button>Add to cart</button>'
    )
    assert extract_product(html, URL)["price"] == Decimal("87.11")


def test_a_bare_amount_after_a_list_price_label_is_not_the_price():
    html = page(
        "<h1>Trail Shoe</h1><table><tr><td>List Price:</td><td>$120.00</td></tr>"
        "<tr><td>Price:</td><td>$89.00</td></tr></table><button>Add to cart</button>"
    )
    assert extract_product(html, URL)["price"] == Decimal("89.00")


def test_a_bare_amount_with_words_is_not_a_price():
    html = page("<h1>Trail Shoe</h1><p>Free delivery over 50 €</p><button>Add to cart</button>")
    assert extract_product(html, URL) is None


def test_cart_buttons_of_other_sellers_and_bundles_in_their_own_boxes_are_no_listing():
    sellers = "".join(
        f'<div class="row"><span class="a-color-price">${p}</span><form action="/dispatch">'
        f'<input type="submit" name="submit.addToCart" value="Add to Cart"></form></div>'
        for p in ("9.99", "10.49", "11.00")
    )
    html = page(
        '<div id="ppd"><div id="centerCol"><h1 id="title">Organic Oats 1kg</h1>'
        '<div id="price"><span id="priceblock_ourprice">$8.49</span></div></div>'
        '<div id="rightCol"><form id="addToCart" action="/handle-buy-box">'
        '<input type="submit" id="add-to-cart-button" value="Add to Cart"></form>'
        f'<div id="mbc"><h5>Other Sellers on Amazon</h5>{sellers}</div></div></div>'
        '<div id="fbt"><h2>Frequently bought together</h2>'
        '<input type="submit" name="submit.addToCart" value="Add all three to Cart"></div>'
    )
    p = extract_product(html, "https://market.example/dp/B07FW264WL")
    assert (p["title"], p["price"], p["availability"]) == ("Organic Oats 1kg", Decimal("8.49"), "in_stock")


def test_a_price_range_gives_its_lowest_price():
    html = page(
        '<h1>Jazz Album</h1><span id="ourprice" class="price">$9.49 - $12.49</span><button>Add to Cart</button>'
    )
    assert extract_product(html, URL)["price"] == Decimal("9.49")


SOLD_OUT_WORDS = (
    "Actuellement indisponible.",
    "Attualmente non disponibile.",
    "Rupture de stock",
    "Нет в наличии",
    "Tovar je vypredaný",  # Slovak
    "Není skladem",  # Czech
    "Laost otsas",  # Estonian
    "Stoc epuizat",  # Romanian
    "Elfogyott",  # Hungarian
    "Tillfälligt slutsåld",  # Swedish
    "Izpārdots",  # Latvian
    "在庫切れ",  # Japanese
    "품절",  # Korean
)


@pytest.mark.parametrize(
    ("printed", "field", "value"),
    [
        ("Tootekood: 763127", "sku", "763127"),  # Estonian
        ("Cikkszám: AB1234", "sku", "AB1234"),  # Hungarian
        ("Referencia: VE900", "sku", "VE900"),  # Spanish
        ("商品番号：4548094738", "sku", "4548094738"),  # Japanese, full-width colon
        ("EAN-kood: 5901885533094", "gtin", "5901885533094"),  # Estonian
        ("JANコード：4901234567894", "gtin", "4901234567894"),  # Japanese
        ("Zīmols: Bosch", "brand", "Bosch"),  # Latvian
        ("ブランド：UNIFLAME", "brand", "UNIFLAME"),  # Japanese
    ],
)
def test_identifiers_and_brands_labelled_in_other_languages(printed, field, value):
    html = page(f"<h1>Obestavba Irys</h1><span class='price'>21 777 Kč</span><button>Koupit</button><p>{printed}</p>")
    assert extract_product(html, URL)[field] == value


def test_the_product_id_the_cart_form_posts_is_the_sku_of_a_page_that_prints_none():
    def cart(product_id: str) -> str:
        return (
            "<form action='/checkout/cart/add/' method='post'><input type='hidden' name='form_key' value='x9Yk2'>"
            f"<input type='hidden' name='product' value='{product_id}'><button type='submit'>Add to Cart</button></form>"
        )

    html = page(f"<h1>Hard Cider Kit</h1><span class='price'>$40.00</span>{cart('301')}")
    assert extract_product(html, "https://brewshop.example/kits/hard-cider-kit")["sku"] == "301"
    printed = page(f"<h1>Hard Cider Kit</h1><span class='price'>$40.00</span><p>SKU: GKCDR</p>{cart('301')}")
    assert extract_product(printed, "https://brewshop.example/kits/hard-cider-kit")["sku"] == "GKCDR"  # printed first
    woo = page(
        "<h1>Hard Cider Kit</h1><span class='price'>$40.00</span><form class='cart' method='post'>"
        "<button type='submit' name='add-to-cart' value='4711'>Add to basket</button></form>"
    )
    assert extract_product(woo, "https://brewshop.example/kits/hard-cider-kit")["sku"] == "4711"
    two = page(f"<h1>Hard Cider Kit</h1><span class='price'>$40.00</span>{cart('301')}<div>{cart('302')}</div>")
    assert extract_product(two, "https://brewshop.example/kits/hard-cider-kit")["sku"] is None  # whose is it?


def test_sold_out_words_of_other_languages():
    for words in SOLD_OUT_WORDS:
        html = page(
            f'<h1>Organic Oats 1kg</h1><div id="availability"><span>{words}</span></div>'
            '<input type="hidden" name="ASIN" value="B07FW264WL">'
        )
        assert extract_product(html, "https://market.example/dp/B07FW264WL")["availability"] == "out_of_stock", words


def test_cart_buttons_of_other_languages():
    for words in ("加入購物車", "В корзину", "Adicionar ao carrinho", "Do košíka", "장바구니 담기", "Sepete ekle"):
        html = page(f'<h1>Trail Shoe</h1><span class="price">€ 10,00</span><button type="submit">{words}</button>')
        assert extract_product(html, URL)["price"] == Decimal("10.00"), words


def test_a_logo_heading_without_text_is_not_the_title():
    html = page(
        '<h1 class="logo"><a href="/"><img src="/logo.png" alt="Shop"></a></h1>'
        '<div class="product"><h1>Trail Shoe</h1><span class="price">€ 10,00</span><button>Add to cart</button></div>'
    )
    assert (extract_product(html, URL)["title"], extract_product(html, URL)["price"]) == (
        "Trail Shoe",
        Decimal("10.00"),
    )


def test_without_any_h1_the_title_of_a_page_with_a_cart_button_is_its_og_title():
    html = page(
        '<h2 class="name">Trail Shoe</h2><span class="price">€ 10,00</span><button>Add to cart</button>',
        head='<meta property="og:title" content="Trail Shoe">',
    )
    assert extract_product(html, URL)["title"] == "Trail Shoe"


def test_a_listing_of_five_cards_without_headings_is_no_product():
    cards = "".join(
        f'<div><span class="price">€ {n},00</span><button>Add to cart</button></div>' for n in range(10, 15)
    )
    assert extract_product(page("<h1>Shoes</h1>" + cards), "https://shop.example/c/shoes") is None


def _card(sku: str) -> str:
    return (
        f'<li class="item"><form action="/c/bags/" method="post"><a href="/p/{sku}/"><img src="/i/{sku}.jpg"'
        f' width="170" height="170"></a><a href="/p/{sku}/" class="name">{sku}</a>'
        f'<div class="price">230 руб.</div><input type="submit" value="В корзину"></form></li>'
    )


def test_a_category_page_of_a_few_cards_without_headings_is_no_product():
    cards = "".join(_card(sku) for sku in ("0996-46", "0996-13", "0996-12"))
    html = page(f'<div class="content"><div class="title"><h1>Shopping bags</h1></div><ul>{cards}</ul></div>')
    assert extract_product(html, "https://shop.example/c/bags/") is None


def test_a_product_whose_buy_box_comes_before_like_cards_of_other_products_is_kept():
    cards = "".join(_card(sku) for sku in ("0996-13", "0996-12"))
    html = page(
        '<div class="content"><h1>Shopping bag 0996-46</h1><img src="/i/0996-46.jpg" width="600" height="600">'
        '<div class="buy"><div class="price">230 руб.</div><button>В корзину</button></div>'
        f"<ul>{cards}</ul></div>"
    )
    product = extract_product(html, "https://shop.example/p/0996-46/")
    assert product["title"] == "Shopping bag 0996-46" and product["price"] == Decimal("230")


def _ld_page(offer: dict, body: str) -> str:
    product = {"@type": "Product", "name": "Trail Shoe", "sku": "TS-1", "offers": {"@type": "Offer", **offer}}
    return page(f"<h1>Trail Shoe</h1>{body}", head=f'<script type="application/ld+json">{json.dumps(product)}</script>')


def test_an_offer_without_availability_takes_the_pages():
    assert (
        extract_product(_ld_page({"price": "10.00"}, "<button>Add to cart</button>"), URL)["availability"] == "in_stock"
    )
    sold_out = _ld_page({"price": "10.00"}, '<p class="availability">Sold out</p>')
    assert extract_product(sold_out, URL)["availability"] == "out_of_stock"
    assert extract_product(_ld_page({"price": "10.00"}, ""), URL)["availability"] == "unknown"
    for words in ("Skladem", "Na sklade", "Raktáron", "În stoc", "På lager", "В наличии", "在庫あり"):
        in_stock = _ld_page({"price": "10.00"}, f'<p class="availability">{words}</p>')
        assert extract_product(in_stock, URL)["availability"] == "in_stock", words


def test_an_offer_without_availability_on_a_page_titled_by_an_h2_reads_the_block_around_it():
    product = {"@type": "Product", "name": "Trail Shoe", "sku": "TS-1", "offers": {"@type": "Offer", "price": "10.00"}}
    sold_out = page(
        "<div><h2>Trail Shoe</h2><p>Sold out</p></div>",
        head=f'<title>Trail Shoe | Shop</title><script type="application/ld+json">{json.dumps(product)}</script>',
    )
    assert extract_product(sold_out, URL)["availability"] == "out_of_stock"


def test_a_stated_availability_is_never_overridden_by_the_page():
    stated = _ld_page(
        {"price": "10.00", "availability": "https://schema.org/InStock"}, '<p class="availability">Sold out</p>'
    )
    assert extract_product(stated, URL)["availability"] == "in_stock"


def _marketplace(buy_box: str, price_block: str) -> str:
    """A marketplace product page: the buy box before the title in the source, other sellers
    and bundles in boxes of their own, a list price struck through beside the price."""
    return page(
        '<div id="ppd"><div id="rightCol"><form id="addToCart" action="/handle-buy-box">'
        f'<input type="hidden" id="ASIN" name="ASIN" value="B01GOH7PKA">{buy_box}</form>'
        '<div id="mbc"><h5>Other Sellers</h5><div><span class="a-color-price">$90.00</span>'
        '<form action="/dispatch"><input name="submit.addToCart" type="submit" value="Add to Cart"></form></div></div></div>'
        '<div id="centerCol"><h1 id="title"><span id="productTitle"> Polarized Sunglasses </span></h1>'
        '<div><span class="a-icon-alt">4.4 out of 5 stars</span> <span>1,234 ratings</span></div>'
        f"{price_block}</div></div>"
        '<div id="fbt"><h2>Frequently bought together</h2><div class="price">$9.99</div>'
        '<form action="/handle-buy-box"><input type="submit" name="submit.addToCart" value="Add both to Cart"></form></div>'
        '<div id="sponsored"><h2>Related to this item</h2><span class="a-price"><span class="a-offscreen">$15.99</span></span></div>'
    )


PRICE_TABLE = (
    '<div id="price"><table><tr><td>List Price:</td><td><span class="priceBlockStrikePriceString a-text-strike">'
    ' $99.99 </span></td></tr><tr><td>Price:</td><td><span id="priceblock_ourprice" class="a-color-price">$87.11</span>'
    ' <span>FREE Shipping on orders over $25.00. <a href="#">Details</a></span></td></tr>'
    '<tr><td>You Save:</td><td class="a-color-price priceBlockSavingsString">$12.88 (13%)</td></tr></table></div>'
)


def test_a_marketplace_page_with_its_buy_box_before_the_title():
    buy_box = (
        '<div id="availability"><span>In Stock.</span></div>'
        '<input id="add-to-cart-button" type="submit" value="Add to Cart"><input id="buy-now-button" type="submit">'
    )
    p = extract_product(_marketplace(buy_box, PRICE_TABLE), "https://market.example/dp/B01GOH7PKA")
    assert (p["title"], p["price"], p["availability"], p["sku"]) == (
        "Polarized Sunglasses",
        Decimal("87.11"),
        "in_stock",
        "B01GOH7PKA",
    )


def test_a_sold_out_marketplace_page_keeps_its_cart_form_but_no_button():
    buy_box = '<div id="availability"><span>Currently unavailable.</span></div>'
    p = extract_product(_marketplace(buy_box, ""), "https://market.example/dp/B01GOH7PKA")
    assert (p["price"], p["availability"], p["sku"]) == (None, "out_of_stock", "B01GOH7PKA")


def test_links_styled_as_cart_buttons_count_as_cart_controls():
    html = page(
        '<h1 id="itemTitle"><span class="g-hdn">Details about </span>Fake Wounds Kit</h1>'
        '<span class="notranslate" id="prcIsum" itemprop="price" content="1.99">£1.99</span>'
        '<a id="binBtn_btn" class="btn btn-prim" href="/bin?item=302474151804">Buy It Now</a>'
        '<a id="isCartBtn_btn" class="btn btn-scnd" href="/cart/add?item=302474151804">Add to cart</a>'
        '<div>Item number:</div><div id="descItemNumber">302474151804</div>'
    )
    p = extract_product(html, "https://market.example/itm/302474151804")
    assert (p["price"], p["sku"], p["availability"]) == (Decimal("1.99"), "302474151804", "in_stock")


def test_sku_labels_of_other_languages():
    for label, value in (
        ("Šifra:", "0638"),
        ("Артикул:", "73556"),
        ("Код товара:", "01245"),
        ("Artikelnummer", "4711-2"),
        ("Kód tovaru:", "g36173"),
    ):
        html = page(
            f'<h1>Trail Shoe</h1><span class="price">€ 10,00</span><button>Add to cart</button><p><span>{label}</span> <b>{value}</b></p>'
        )
        assert extract_product(html, URL)["sku"] == value, label


def test_sku_printed_in_the_next_cell_after_a_separator():
    body = (
        '<h1>Headlight H11B</h1><span class="price">$44.50</span><button>Add to cart</button>'
        "<table><tr><td><strong>Stock Code</strong>:</td><td>EIKO-H11B55</td></tr>"
        "<tr><td><strong>Family</strong>:</td><td>Supreme</td></tr></table>"
    )
    assert extract_product(page(body), URL)["sku"] == "EIKO-H11B55"


def test_a_labelled_sku_of_capitals_alone_but_no_placeholder():
    body = '<h1>Box Set</h1><span class="price">£5.99</span><button>Add to basket</button><ul><li><strong>Product code: </strong><span>{}</span></li></ul>'
    assert extract_product(page(body.format("PHLR")), URL)["sku"] == "PHLR"
    assert extract_product(page(body.format("NONE")), "https://shop.example/box-set")["sku"] is None


def test_sku_from_rdfa_and_from_an_element_classed_sku():
    body = '<h1>Coccinelle Sweets</h1><span class="price">0,60 €</span><button>Add to cart</button>{}'
    rdfa = '<div typeof="gr:Offering"><span property="gr:hasStockKeepingUnit" content="LB1617" datatype="xsd:string"></span></div>'
    assert extract_product(page(body.format(rdfa)), URL)["sku"] == "LB1617"
    classed = '<span class="meta sku">HB095BLK</span><span class="sku-note">Ships in 2 days</span>'
    assert extract_product(page(body.format(classed)), URL)["sku"] == "HB095BLK"


def test_orphan_price_microdata_of_a_carousel_card_is_not_the_price():
    html = page(
        '<div class="recent"><h3>Recently viewed</h3><span itemprop="price" content="4.99">$4.99</span></div>'
        '<h1>Trail Shoe</h1><span itemprop="price" content="45.50">$45.50</span><button>Add to cart</button>'
    )
    assert extract_product(html, URL)["price"] == Decimal("45.50")


def test_the_photo_beside_the_title_is_the_image_of_a_page_without_image_meta():
    buy_box = '<input id="add-to-cart-button" type="submit" value="Add to Cart">'
    html = _marketplace(buy_box, PRICE_TABLE).replace(
        '<div id="centerCol">',
        '<div id="leftCol"><img src="/sprites/play-icon.png" class="icon" width="20">'
        '<img id="landingImage" src="https://img.example/I/71abc._SX300_.jpg" data-zoom-image="https://img.example/I/71abc.jpg"></div>'
        '<div id="centerCol">',
    )
    html = html.replace("<header>", '<header><img src="https://img.example/logo.png" alt="Shop logo">')
    p = extract_product(html, "https://market.example/dp/B01GOH7PKA")
    assert p["image_urls"] == ["https://img.example/I/71abc.jpg"]


def test_an_xhtml_page_with_an_xml_encoding_declaration_is_read():
    """Real XHTML pages open with ``<?xml ... encoding="..."?>``; lxml refuses such a page given
    as text, which lost it with a ValueError in the spider's callback."""
    html = '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>' + BOOK.replace("Darkseid", "Darkséid")
    p = extract_product(html, URL)
    assert (p["title"], p["price"]) == ("The Legend of Darkséid", Decimal("22.50"))


SHOE_URL = "https://shop.example/trail-running-shoe/p/AB12345?categoryId=cat00127"
CART = '<span class="price">€ 89,95</span><button>Add to cart</button>'


def test_a_promotion_h1_before_the_product_is_not_the_title():
    """A banner's or a dialog's ``<h1>`` shares no word with the URL or ``<title>``; the product's does."""
    html = page(
        "<div class='promo'><h1>Free shipping above $35</h1></div><h1>Trail Running Shoe</h1>" + CART,
        head="<title>Trail Running Shoe | Shop</title>",
    )
    assert extract_product(html, SHOE_URL)["title"] == "Trail Running Shoe"


def test_when_no_h1_names_the_product_the_document_title_that_the_url_spells_does():
    html = page("<h1>Shipping information</h1><h1>Returns</h1>" + CART, head="<title>Trail Running Shoe - Shop</title>")
    assert extract_product(html, SHOE_URL)["title"] == "Trail Running Shoe"
    other = page("<h1>Shipping information</h1>" + CART, head="<title>Customer care - Shop</title>")
    assert extract_product(other, SHOE_URL)["title"] == "Shipping information", "no evidence: the first h1"


def test_without_an_h1_a_home_page_or_a_site_name_is_no_product_title():
    website = page(
        CART, head='<meta property="og:type" content="website"><meta property="og:title" content="Shop deals">'
    )
    assert extract_product(website, "https://shop.example/") is None
    site_name = page(CART, head='<meta property="og:title" content="Shop.example">')
    assert extract_product(site_name, "https://www.shop.example/customer-care/") is None


def test_a_category_or_store_query_parameter_is_no_sku():
    html = page(
        "<h1>Trail Running Shoe</h1>" + CART + '<input type="hidden" name="c" value="cat00127">'
        '<input type="hidden" name="product" value="AB12345">'
    )
    assert extract_product(html, SHOE_URL)["sku"] == "AB12345"
    only_category = page("<h1>Trail Running Shoe</h1>" + CART + '<input type="hidden" name="c" value="cat00127">')
    assert extract_product(only_category, "https://shop.example/trail-running-shoe?categoryId=cat00127")["sku"] is None


def test_image_buttons_and_cart_forms_named_by_their_platform_are_cart_controls():
    """An ``<input type="image">`` says "Add to basket" in its ``alt``/``title`` only; a cart form
    posts ``action=add_product`` or is named ``cart_add_…``, with a button that says "Buy!"."""
    price = '<span class="productPrice">£17.26</span>'
    image = page(
        "<h1>Hearing Aid</h1>" + price + '<form name="cart_quantity" action="/product_info.php?action=add_product">'
        '<input type="image" src="/b/button_in_cart.png" alt="Add to basket" title=" Add to basket "></form>'
    )
    assert (extract_product(image, URL) or {}).get("price") == Decimal("17.26")
    named = page(
        "<h1>Hearing Aid</h1>" + price + '<form id="cart_add_725292" action="/cart.php">'
        '<input type="submit" value="Buy!"></form>'
    )
    assert (extract_product(named, URL) or {}).get("availability") == "in_stock"
    unrelated = page(
        "<h1>Hearing Aid</h1>" + price + '<form action="/reviews"><input type="image" alt="Your cart" name="ADD1">'
        "</form>"
    )
    assert extract_product(unrelated, URL) is None, "words of two attributes do not join into a cart word"


def test_a_heading_named_for_the_price_shows_the_price():
    html = page(
        '<h1>Saxophone Repair Kit</h1><form action="/cart?action=add_product">'
        '<h2 id="productPrices" class="productGeneral">$18.99</h2><h3>Related</h3>'
        '<input type="image" src="/b/cart.gif" alt="Add to Cart"></form>'
    )
    assert extract_product(html, URL)["price"] == Decimal("18.99")
    unnamed = page("<h1>Saxophone Repair Kit</h1><div><h2>$18.99</h2></div><button>Add to cart</button>")
    assert extract_product(unnamed, URL)["price"] == Decimal("18.99"), "a heading that is only an amount shows it"
    titled = page("<h1>Saxophone Repair Kit</h1><div><h2>Reeds from $18.99</h2></div><button>Add to cart</button>")
    assert extract_product(titled, URL) is None, "a heading with words is a title, not a price"


def test_a_regular_price_is_the_price_unless_a_sale_price_is_beside_it():
    """Magento shows the current price as ``regular-price`` when there is no sale, and
    ``old-price`` / ``special-price`` when there is one."""
    cart = '<button class="btn-cart">In den Warenkorb</button>'
    regular = (
        '<div class="price-box"><span class="regular-price" id="product-price-2207"><span class="price">999,00 €'
        '</span></span><span class="label">Barpreis inkl. 19% MwSt.</span></div>'
    )
    assert extract_product(page("<h1>Digitalpiano</h1>" + regular + cart), URL)["price"] == Decimal("999.00")
    sale = (
        '<div class="price-box"><span class="regular-price"><span class="price">999,00 €</span></span>'
        '<span class="special-price"><span class="price">899,00 €</span></span></div>'
    )
    assert extract_product(page("<h1>Digitalpiano</h1>" + sale + cart), URL)["price"] == Decimal("899.00")
    flat = '<div><span class="price regular">$50.00</span> <span class="price sale">$40.00</span></div>'
    assert extract_product(page("<h1>Digitalpiano</h1>" + flat + cart), URL)["price"] == Decimal("40.00")


def test_orphan_product_id_markup_with_a_scheme_prefix_is_the_bare_identifier():
    html = page('<h1>Guest Towels</h1><meta itemprop="productID" content="sku:856802">' + CART)
    assert extract_product(html, URL)["sku"] == "856802"


def test_a_price_in_a_bootstrap_list_is_the_price_and_a_list_price_is_not():
    """``list-unstyled`` is layout, ``list-price`` a former price; the currency sign may sit in
    a span of its own."""
    prices = (
        '<ul class="list-unstyled prices"><li id="price"><span class="ourPrice">Our price</span>'
        '<span class="price-string">£</span><span class="price price-string">5.99</span></li>'
        '<li id="rrp" class="rrp muted">RRP £26.97</li></ul>'
    )
    html = page("<h1>Three Books</h1>" + prices + '<form action="OrderItemAdd"><button>Add to basket</button></form>')
    assert extract_product(html, URL)["price"] == Decimal("5.99")
    listed = page(
        '<h1>Three Books</h1><span class="list-price">£26.97</span><span class="price">£5.99</span>'
        "<button>Add to basket</button>"
    )
    assert extract_product(listed, URL)["price"] == Decimal("5.99")


def test_a_home_page_is_no_product_page():
    html = page("<h1>Ultimate source for lutherie</h1><span class='price'>68,00 €</span><button>Add to cart</button>")
    for home in ("https://shop.example/", "https://shop.example/fr/", "https://shop.example/index.php"):
        assert extract_product(html, home) is None, home
    assert extract_product(html, "https://shop.example/?product=12")["price"] == Decimal("68.00")
    assert extract_product(html, "https://shop.example/tonewood-set")["price"] == Decimal("68.00")
    assert extract_product(html, "")["price"] == Decimal("68.00")  # a saved page without its URL is no home page


def test_a_saved_page_read_without_its_url_goes_by_the_address_it_gives_itself():
    body = "<h1>Ultimate source for lutherie</h1><span class='price'>68,00 €</span><button>Add to cart</button>"
    home = page(body, head='<link rel="canonical" href="https://shop.example/fr/">')
    assert extract_product(home, "") is None  # its own address is the shop's French home page
    item = page(
        body.replace("lutherie", "lutherie: tonewood set") + "<p>Item 40213</p>",
        head='<meta property="og:url" content="https://shop.example/tonewood-set-40213">',
    )
    p = extract_product(item, "")
    assert (p["price"], p["sku"], p["url"]) == (Decimal("68.00"), "40213", "https://shop.example/tonewood-set-40213")


def test_a_page_replayed_from_a_web_archive_goes_by_the_url_it_archived():
    body = "<h1>Ultimate source for lutherie</h1><span class='price'>68,00 €</span><button>Add to cart</button>"
    replay = "http://localhost:8080/shops/20210215093000/"  # pywb's and the Wayback Machine's scheme
    assert extract_product(page(body), replay + "https://shop.example/fr/") is None  # the shop's home page
    canonical = '<link rel="canonical" href="/web/20210215093000id_/https://shop.example/tonewood-set-40213">'
    p = extract_product(page(body + "<p>Item 40213</p>", canonical), replay + "https://shop.example/tonewood-set-40213")
    assert (p["price"], p["sku"], p["url"]) == (Decimal("68.00"), "40213", "https://shop.example/tonewood-set-40213")
    assert extract_product(page(body), "https://shop.example/p/20210215093000/tonewood-set")["price"]  # no URL inside
    # the archive's copy read on its own: its canonical link, rewritten by the archive, names the original
    p = extract_product(page(body + "<p>Item 40213</p>", canonical), "")
    assert (p["sku"], p["url"]) == ("40213", "https://shop.example/tonewood-set-40213")


CART_WORDS = (
    "Agregar al carro",  # Spanish, Latin America
    "Lisa ostukorvi",  # Estonian
    "Pievienot grozam",  # Latvian
    "Į krepšelį",  # Lithuanian
    "Kosárba",  # Hungarian
    "Legg i handlekurv",  # Norwegian
    "Προσθήκη στο καλάθι",  # Greek
    "Додати в кошик",  # Ukrainian
    "Tambah ke Keranjang",  # Indonesian
    "放入購物車",  # Traditional Chinese
)


def test_add_to_cart_words_of_other_languages():
    for words in CART_WORDS:
        html = page(f"<h1>Obestavba Irys</h1><span class='price'>21 777 Kč</span><button>{words}</button>")
        assert (extract_product(html, URL) or {}).get("price") == Decimal("21777"), words


def test_a_button_that_says_only_buy_in_the_shops_language_is_a_cart_control():
    for word in ("Koupit", "Kaufen", "Buy!", "Pirkt", "Купити", "구매하기"):
        html = page(
            f"<h1>Obestavba Irys</h1><span class='price'>21 777 Kč</span><form><input type='submit' value='{word}'></form>"
        )
        assert (extract_product(html, URL) or {}).get("price") == Decimal("21777"), word
    sentence = page("<h1>Obestavba Irys</h1><span class='price'>21 777 Kč</span><a class='btn'>Buy gift cards</a>")
    assert extract_product(sentence, URL) is None, "a buy word inside a longer label is no cart button"


def test_headings_inside_the_buy_box_head_no_other_item():
    """The form holding the title's cart button, with a seller's heading (or a gallery's) before
    its price, is the product's buy box; the cross-sell cards after it stay cards."""
    html = page(
        "<div class='shop'><h1>Console Pack 500 GB</h1></div>"
        "<form id='product_addtocart_form' action='/checkout/cart/add'><div class='box'><h4>Sold new by Gameshop</h4>"
        "<div class='price-box'><span class='price'>399,99 €</span></div>"
        "<div class='buttons'><button>Add to cart</button></div></div></form>"
        "<div class='cross'><h4>Accessories</h4><div class='item'><h2>Vertical stand</h2>"
        "<span class='price'>19,99 €</span></div></div>"
    )
    assert extract_product(html, URL)["price"] == Decimal("399.99")


def test_hidden_and_label_headings_head_no_box():
    for heading in (
        "<h2 class='visually-hidden'>Details</h2>",
        "<h2 style='display: none'>Details</h2>",
        "<h3><a href='#size'><span>size:</span> <strong>Please select</strong></a></h3>",
        "<h3>Quantity:</h3>",
    ):
        html = page(
            f"<div class='detail'><h1>Baja Stripe Sneaker</h1><div id='content'>{heading}"
            "<div class='product-price'><span class='price-sales'>$52.80</span></div>"
            "<form action='/cart'><button>Add to cart</button></form></div></div>"
        )
        p = extract_product(html, URL) or {}
        assert (p.get("price"), p.get("availability")) == (Decimal("52.80"), "in_stock"), heading


def test_a_heading_that_repeats_the_title_is_the_title_not_a_card():
    html = page(
        "<div id='crumbs'><h1>Zhero Gravity Junior</h1></div>"
        "<div id='info'><div id='code'>#84682</div><h2>Zhero Gravity Junior</h2>"
        "<div id='item_price'><div class='strike_price'>$54.99</div><div class='sale_price'>$24.99</div></div></div>"
        "<button>Add to cart</button>"
    )
    assert extract_product(html, URL)["price"] == Decimal("24.99")


def test_a_link_that_is_only_an_add_to_cart_image_is_a_cart_control():
    """A hosted store's order form without a button, ordered by an image link outside it."""
    html = page(
        "<h1>Zhero Gravity Junior</h1><div class='sale_price'>$24.99</div>"
        "<form action='/cgi-bin/wg-order' name='frmOrder'><select name='size'><option>4</option></select></form>"
        "<a href='javascript:checkOrder();'><img src='https://img.example/Graphics/AddToCart.png'></a>"
    )
    p = extract_product(html, URL) or {}
    assert (p.get("price"), p.get("availability")) == (Decimal("24.99"), "in_stock")
    viewed = html.replace("AddToCart.png", "ViewCart.png")
    assert extract_product(viewed, URL) is None, "an image link to the cart adds nothing"


def test_a_quantity_tier_price_labelled_as_low_as_is_not_the_price():
    tiers = (
        "<h1>Acrylic bead, 32mm</h1><div class='asLowAs'>As Low As <span class='asLowAsPrice'>$0.24</span> per bead</div>"
        "<table class='multiPrice'><tr><th>1 - 14</th><th>15 - 49</th></tr><tr><td>$3.46</td><td>$2.49</td></tr></table>"
        "<button>Add to cart</button>"
    )
    assert extract_product(tiers, URL)["price"] == Decimal("3.46")
    only = page(
        "<h1>Acrylic bead, 32mm</h1><p class='minimal-price'><span class='price-label'>As low as:</span>"
        "<span class='price'>$10.00</span></p><button>Add to cart</button>"
    )
    assert extract_product(only, URL)["price"] == Decimal("10.00"), "with no other price it is the one shown"


def test_sold_out_sizes_in_the_availability_block_do_not_sell_out_the_product():
    sizes = "".join(
        f"<li><span class='size'>{n}\" {'sold out' if n > 36 else ''}</span></li>" for n in (30, 32, 34, 36, 38, 40)
    )
    html = page(
        "<h1>Seersucker Shorts</h1><span id='product_instock'>Size: <ul>"
        + sizes
        + "</ul><select><option>40\" - sold out</option></select><strong class='price'>£34.95</strong></span>"
        "<form action='/basket'><input type='submit' value='Add to basket'></form>"
    )
    assert extract_product(html, URL)["availability"] == "in_stock"
    sold = html.replace("Size: <ul>", "Sold out. Size: <ul>")
    assert extract_product(sold, URL)["availability"] == "out_of_stock"


def test_local_currency_signs_name_their_currency():
    for shown, code in (("21 777 Kč", "CZK"), ("253.0 грн", "UAH"), ("19 900 Ft", "HUF"), ("47 405 руб.", "RUB")):
        html = page(f"<h1>Obestavba Irys</h1><span class='price'>{shown}</span><button>Add to cart</button>")
        assert extract_product(html, URL)["currency"] == code, shown
    dollars = page("<h1>Obestavba Irys</h1><span class='price'>$21.77</span><button>Add to cart</button>")
    assert extract_product(dollars, URL)["currency"] is None, "a dollar sign names no one currency"


def test_without_an_h1_the_heading_the_document_title_starts_with_is_the_title():
    html = page(
        "<h3>Customer login</h3><table><tr><td><h2>Leonin Snarecaster</h2><h3>Duel Decks</h3>"
        "<form class='cart_add' action='/cart.php'>Price: <strong>$0.49</strong><input type='submit' value='Buy!'>"
        "</form></td></tr></table>",
        head="<title>Leonin Snarecaster (Duel Decks: Speed vs. Cunning)</title>",
    )
    p = extract_product(html, "https://cards.example/carddisplay.php?product=725292") or {}
    assert (p.get("title"), p.get("price")) == ("Leonin Snarecaster", Decimal("0.49"))


def test_markup_without_an_identifier_takes_the_one_the_page_prints_before_the_urls():
    """Microdata naming and pricing the product but giving no SKU: the reference printed on
    the page ("Artikelnummer: 8570931"), else ``data-sku``, wins over the URL's id."""
    item = (
        '<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Kawai ES100W</h1>'
        '<img itemprop="image" src="/es100.jpg"><div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        '<meta itemprop="price" content="47405"><meta itemprop="priceCurrency" content="RUB"></div></div>'
    )
    url = "https://shop.example/catalog/detail/62523/"
    printed = page(item + "<p>Artikelnummer: 8570931</p><p>62523</p>")
    assert extract_product(printed, url)["sku"] == "8570931"
    data = page(item + '<form action="/cart/add" data-sku="2731080"><button>Add to cart</button></form><p>62523</p>')
    assert extract_product(data, url)["sku"] == "2731080"
    assert extract_product(page(item + "<p>62523</p>"), url)["sku"] == "62523", "else the URL's id the page repeats"


def _brand(body: str, head: str = "") -> str | None:
    shop = '<h1>Cake Pan</h1><span class="price">$30.99</span><button>Add to cart</button>'
    return extract_product(page(shop + body, head=head), "https://shop.example/cake-pan")["brand"]


def test_a_brand_printed_with_its_label_or_in_a_spec_table():
    assert _brand("<ul><li>Brand: Wilton</li><li>Material: steel</li></ul>") == "Wilton"
    assert _brand("<p><span>Fabricant : </span>Sony</p>") == "Sony"
    assert _brand("<p>Производитель:<a href='/m/49'>Humminbird</a></p>") == "Humminbird"
    assert _brand("<table><tr><th>Brand</th><td>MICHELSON DIAMONDS</td></tr></table>") == "MICHELSON DIAMONDS"


def test_a_brand_placeholder_or_a_menu_is_no_brand():
    assert _brand("<p>Márka: <strong> Egyéb </strong></p>") is None
    assert _brand("<nav><a href='/brands'>Shop by Brand</a><a href='/sale'>Sale</a></nav>") is None


def test_a_brand_from_orphan_markup_or_a_twitter_card_but_not_another_items():
    assert _brand('<meta itemprop="brand" content="Hoffmaster">') == "Hoffmaster"
    nested = '<li itemprop="brand" itemscope itemtype="http://schema.org/Brand">Manufacturer: Black Leaf</li>'
    assert _brand(nested) == "Black Leaf"
    card = '<meta name="twitter:label2" content="Brand"><meta name="twitter:data2" content="Griffin">'
    assert _brand("", head=card) == "Griffin"
    related = "".join(
        f'<div class="card" itemscope itemtype="http://schema.org/Product"><a href="/{name}" itemprop="name">{name}</a>'
        f'<span itemprop="brand">{brand}</span></div>'
        for name, brand in (("Muffin Tin", "Nordic Ware"), ("Loaf Pan", "USA Pan"))
    )
    product = {"@type": "Product", "name": "Cake Pan", "offers": {"@type": "Offer", "price": "30.99"}}
    ld = f'<script type="application/ld+json">{json.dumps(product)}</script>'
    assert _brand(f"<aside>You may also like {related}</aside>", head=ld) is None, "related items' brands"


def test_a_microdata_manufacturer_link_is_no_brand_url():
    item = (
        '<div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name">Shirt</h1>'
        '<img itemprop="image" src="/s.jpg"><span itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
        '<meta itemprop="price" content="145.00"><meta itemprop="priceCurrency" content="USD"></span>'
        "Other products by <a href='/Search.aspx?m=14' itemprop='manufacturer'>Clothier to the King</a></div>"
    )
    assert extract_product(page(item), "https://shop.example/shirt")["brand"] is None


def test_a_currency_from_priceCurrency_markup_outside_the_item_or_miscased():
    item = (
        '<div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name">Oil Rig</h1>'
        '<img itemprop="image" src="/rig.jpg"><span itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
        '<meta itemprop="price" content="41.30">$41.30{}</span></div>'
    )
    orphan = '<meta itemprop="priceCurrency" content="USD">'
    assert extract_product(page(orphan + item.format("")), URL)["currency"] == "USD"
    assert (
        extract_product(page(item.format('<span itemprop="pricecurrency" content="EUR"></span>')), URL)["currency"]
        == "EUR"
    )
    switcher = orphan + '<meta itemprop="priceCurrency" content="CAD">'
    assert extract_product(page(switcher + item.format("")), URL)["currency"] is None, "two currencies name neither"


def test_a_document_title_gives_the_name_without_its_trailing_barcode():
    html = (
        "<html><head><title>Diner Collage 1000 Piece Puzzle: 724819255917 | | Calendars</title></head><body>"
        "<h1>Free Standard Shipping above $35</h1><div><b>Diner Collage 1000 Piece Puzzle</b>"
        '<span class="price">$14.99</span><button>Add to cart</button></div></body></html>'
    )
    found = extract_product(html, "https://www.puzzles.example/Diner-Collage-1000-Piece-Puzzle/prod2015000148/")
    assert found["title"] == "Diner Collage 1000 Piece Puzzle"


def test_content_after_the_closing_html_tag_is_read_with_the_rest_of_the_page():
    # a saved page whose related products follow ``</html>`` (an injected script's markup, a
    # second document pasted in): libxml2 makes them a second root element
    html = page(
        '<div class="product"><h1>57 cm Kettle Barbecue</h1><span class="price">£59.99</span>'
        '<form action="/cart/add" method="post"><button type="submit">Add to basket</button></form></div>'
    ) + (
        '<div class="related"><h2>Customers also bought</h2><ul><li><a href="/p/charcoal">Charcoal 5 kg</a>'
        '<span class="price">£9.99</span><a class="btn" href="/cart/add?p=2">Add to basket</a></li></ul></div>'
    )
    p = extract_product(html, "https://shop.example/p/57-cm-kettle-barbecue")
    assert (p["title"], p["price"], p["availability"]) == ("57 cm Kettle Barbecue", Decimal("59.99"), "in_stock")
