"""The extraction failure classes seen on real retailer pages, each on a small fixture written
here that reproduces the markup pattern, plus the offer/variant/identity policy."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from scrapers.extraction import extract_product
from scrapers.items import InvalidProduct, to_gtin, to_price, validate

URL = "https://shop.example/products/trail-shoe"


def page(head: str = "", body: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def ld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def product(**extra: object) -> dict:
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Trail Shoe",
        "image": "https://cdn.example/shoe.jpg",
        **extra,
    }


def offer(price: object, availability: str = "InStock", currency: str = "EUR", **extra: object) -> dict:
    return {
        "@type": "Offer",
        "price": price,
        "priceCurrency": currency,
        "availability": f"https://schema.org/{availability}",
        **extra,
    }


# 1. microdata scoped to the product's own itemscope ---------------------------------------------------
MICRODATA = """
<div itemscope itemtype="https://schema.org/Product">
  <ol itemscope itemtype="https://schema.org/BreadcrumbList">
    <li itemprop="itemListElement" itemscope itemtype="https://schema.org/ListItem">
      <span itemprop="name">Clothing, Shoes &amp; Accessories</span><meta itemprop="position" content="1"></li>
  </ol>
  <div itemprop="additionalProperty" itemscope itemtype="https://schema.org/PropertyValue">
    <span itemprop="name">variationId</span><span itemprop="value">123</span></div>
  <div itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">Nordpeak</span></div>
  <section><h1 itemprop="name">Trail Shoe</h1><p>Long marketing text that is not the title.</p></section>
  <div itemprop="image" itemscope itemtype="https://schema.org/ImageObject">
    <meta itemprop="url" content="https://cdn.example/shoe-large.jpg"></div>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
    <meta itemprop="price" content="89.95"><meta itemprop="priceCurrency" content="EUR">
    <link itemprop="availability" href="https://schema.org/InStock"></div>
</div>"""


def test_microdata_reads_the_products_own_properties_and_nested_items():
    p = extract_product(page(body=MICRODATA), URL)
    assert p["title"] == "Trail Shoe" and p["brand"] == "Nordpeak"
    assert p["image_urls"] == ["https://cdn.example/shoe-large.jpg"]
    assert (p["price"], p["currency"], p["availability"]) == (Decimal("89.95"), "EUR", "in_stock")


def test_microdata_name_on_a_large_element_is_its_heading():
    html = page(
        body='<div itemscope itemtype="https://schema.org/Product"><div itemprop="name">'
        "<h1>Trail Shoe</h1><div><p>Free delivery</p><p>Reviews (12)</p></div></div>"
        '<img itemprop="image" src="/shoe.jpg"></div>'
    )
    assert extract_product(html, URL)["title"] == "Trail Shoe"


# 2. to_price never fuses several numbers into one ---------------------------------------------------
@pytest.mark.parametrize(
    "raw, expected",
    [
        (" 71,91 € 79,90 € ", Decimal("71.91")),
        ("109€\n109€", Decimal("109")),
        ("34.000", Decimal("34.000")),
        ("€ 1.299,00", Decimal("1299.00")),
        (1e2, Decimal("100.0")),
    ],
)
def test_to_price_reads_one_amount(raw, expected):
    assert to_price(raw) == expected


@pytest.mark.parametrize("raw", ["1e308", "2E+5", 1e308, float("inf"), float("nan"), -1, "n/a", True, {}])
def test_to_price_rejects_garbage(raw):
    with pytest.raises(InvalidProduct):
        to_price(raw)


def test_price_element_with_the_amount_printed_twice():
    html = page(
        body='<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Trail Shoe</h1>'
        '<img itemprop="image" src="/s.jpg"><div itemprop="offers" itemscope '
        'itemtype="https://schema.org/Offer"><span itemprop="price"><div>109€</div><div>109€</div>'
        '</span><meta itemprop="priceCurrency" content="EUR"></div></div>'
    )
    assert extract_product(html, URL)["price"] == Decimal("109")


# 3. lenient JSON-LD ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "script",
    [
        '/*<![CDATA[*/ {"@type": "Product", "name": "Trail Shoe", "image": "/s.jpg", '
        '"offers": {"@type": "Offer", "price": "59.00"}} /*]]>*/',
        '{"@type": "Product", // the product\n "name": "Trail Shoe", "image": "/s.jpg",\n'
        ' "offers": {"@type": "Offer", "price": "59.00",},}',
    ],
)
def test_json_ld_with_cdata_comments_or_trailing_commas(script):
    html = page(
        f'<script type="application/ld+json">{script}</script><script type="application/ld+json">{{"broken": </script>'
    )
    p = extract_product(html, URL)
    assert p["title"] == "Trail Shoe" and p["price"] == Decimal("59.00")


def test_markup_nested_deeper_than_the_stack_loses_only_itself():
    deep_json = "[" * 3000 + '{"@type": "Product", "name": "Decoy"}' + "]" * 3000
    deep_items = '<div itemscope itemtype="https://schema.org/Thing" itemprop="about">' * 1500 + "</div>" * 1500
    good = ld(product(offers=offer("59.00")))
    html = page(f'<script type="application/ld+json">{deep_json}</script>{good}', deep_items)
    p = extract_product(html, URL)  # RecursionError before, from json and from extruct's microdata
    assert (p["title"], p["price"]) == ("Trail Shoe", Decimal("59.00"))


def test_microdata_after_the_closing_html_tag_is_read():
    # markup after </html> (libxml2 makes it a second root element) holds the product item
    html = (
        page(body='<div itemscope itemtype="http://schema.org/Organization"><span itemprop="name">Shop</span></div>')
        + '<div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name">Trail Shoe</h1>'
        '<div itemprop="offers" itemscope itemtype="http://schema.org/Offer"><span itemprop="price">59.99</span>'
        '<meta itemprop="priceCurrency" content="GBP"></div></div>'
    )
    p = extract_product(html, URL)
    assert (p["title"], p["price"], p["currency"]) == ("Trail Shoe", Decimal("59.99"), "GBP")


@pytest.mark.parametrize("html", ["", "  \n", "<!-- nothing -->", "<!DOCTYPE html>"])
def test_a_page_without_any_element_is_no_product(html):
    assert extract_product(html, URL) is None  # lxml: "Document is empty"


# 4. availability over all offers --------------------------------------------------------------------
def test_in_stock_when_any_offer_is():
    offers = [offer("70.00", "OutOfStock")] + [offer(f"{60 + i}.00") for i in range(4)]
    p = extract_product(page(ld(product(offers=offers))), URL)
    assert p["availability"] == "in_stock" and p["price"] == Decimal("60.00")


# 5. nested and subtyped products --------------------------------------------------------------------
@pytest.mark.parametrize(
    "doc",
    [
        {"@type": "Review", "reviewBody": "great", "itemReviewed": product(offers=offer("10.00"))},
        {"@type": "ItemPage", "url": URL, "mainEntity": product(offers=offer("10.00"))},
        {"@type": "Offer", "price": "10.00", "priceCurrency": "EUR", "itemOffered": product()},
        {**product(offers=offer("10.00")), "@type": "Car"},
        {"@graph": [{"@type": "WebSite"}, {**product(offers=offer("10.00")), "@type": ["IndividualProduct"]}]},
    ],
)
def test_product_nested_under_another_node_or_typed_as_a_subtype(doc):
    p = extract_product(page(ld(doc)), URL)
    assert p is not None and (p["title"], p["price"]) == (
        "Trail Shoe",
        Decimal("10.00"),
    )  # the Offer above it prices it


def test_microdata_offers_left_outside_a_product_item_that_closes_early():
    # the Product's itemscope ends after its heading and rating; the offers follow it, one with
    # the price, one with the availability: the page's product takes them
    body = """
    <div itemscope itemtype="http://schema.org/Product"><h1><span itemprop="name">Kettle Barbecue</span></h1>
      <div itemprop="aggregateRating" itemscope itemtype="http://schema.org/AggregateRating">
        <meta itemprop="ratingValue" content="4.0"></div></div>
    <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
      <p class="normalPrice"><span itemprop="price">59.99</span> <meta itemprop="priceCurrency" content="GBP"></p></div>
    <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
      <span><link itemprop="availability" href="http://schema.org/InStock"> Available in stock</span></div>
    """
    p = extract_product(page(body=body), URL)
    assert (p["title"], p["price"], p["currency"], p["availability"]) == (
        "Kettle Barbecue",
        Decimal("59.99"),
        "GBP",
        "in_stock",
    )


# 6. entities ---------------------------------------------------------------------------------------
def test_entities_decoded_in_text_and_image_urls_kept_signed():
    image = "https://cdn.example/s.jpg?x=1&amp;sig=ab%2Fc%3D"
    p = extract_product(page(ld(product(name="Caf&eacute; &quot;Trail&quot; &amp; Co", image=image))), URL)
    assert p["title"] == 'Café "Trail" & Co'
    assert p["image_urls"] == ["https://cdn.example/s.jpg?x=1&sig=ab%2Fc%3D"]


def test_a_page_given_as_bytes_is_decoded_as_saved():
    doc = ld(product(name="Эхолот Humminbird 788", offers=offer("29990", currency="RUB")))
    declared = '<meta charset="windows-1251">'
    assert extract_product(page(declared + doc).encode("cp1251"), URL)["title"] == "Эхолот Humminbird 788"
    assert extract_product(page(doc).encode("utf-16"), URL)["title"] == "Эхолот Humminbird 788"  # by its BOM
    # re-saved as UTF-8 but still declaring its old charset: valid UTF-8 wins
    resaved = page('<meta charset="iso-8859-2">' + ld(product(name="Pierścionek złoty", offers=offer("2399"))))
    assert extract_product(resaved.encode("utf-8"), URL)["title"] == "Pierścionek złoty"


# 7. image queries that are not key=value pairs -------------------------------------------------------
def test_image_query_that_is_not_pairs_is_kept():
    p = extract_product(
        page(ld(product(image=["https://cdn.example/s.jpg?$formatz$", "https://cdn.example/t.jpg?$Main768$&w=620"]))),
        URL,
    )
    assert p["image_urls"] == ["https://cdn.example/s.jpg?$formatz$", "https://cdn.example/t.jpg?$Main768$"]


# 8. several offers / variants ----------------------------------------------------------------------
GROUP = {
    "@context": "https://schema.org",
    "@type": "ProductGroup",
    "name": "Trail Shoe",
    "productGroupID": "TS",
    "image": "https://cdn.example/shoe.jpg",
    "hasVariant": [
        {
            "@type": "Product",
            "name": "Trail Shoe 42",
            "sku": "TS-42",
            "gtin13": "4006381333931",
            "url": URL + "?variant=42",
            "offers": offer("99.00"),
        },
        {
            "@type": "Product",
            "name": "Trail Shoe 43",
            "sku": "TS-43",
            "url": URL + "?variant=43",
            "offers": offer("79.00"),
        },
        {
            "@type": "Product",
            "name": "Trail Shoe 44",
            "sku": "TS-44",
            "url": URL + "?variant=44",
            "offers": offer("69.00", "OutOfStock"),
        },
    ],
}


def test_variant_matching_the_page_url_wins():
    p = extract_product(page(ld(GROUP)), URL + "?variant=42")
    assert (p["price"], p["sku"], p["gtin"], p["availability"]) == (
        Decimal("99.00"),
        "TS-42",
        "4006381333931",
        "in_stock",
    )
    sold_out = extract_product(page(ld(GROUP)), URL + "?variant=44")
    assert (sold_out["price"], sold_out["availability"]) == (Decimal("69.00"), "out_of_stock")


def test_without_a_variant_in_the_url_the_lowest_in_stock_offer():
    p = extract_product(page(ld(GROUP)), URL)
    assert (p["price"], p["availability"], p["id"]) == (Decimal("79.00"), "in_stock", "TS")


def test_one_product_node_per_size_is_one_product():
    sizes = [product(sku=f"TS-{n}", url=f"{URL}?size={n}", offers=offer(f"{n}.00")) for n in (50, 40, 45)]
    html = page("".join(ld(s) for s in sizes))
    assert extract_product(html, URL + "?size=45")["sku"] == "TS-45"
    assert extract_product(html, URL)["price"] == Decimal("40.00")


def test_variants_published_beside_their_group_are_not_a_listing():
    group = {k: v for k, v in GROUP.items() if k != "hasVariant"}
    variants = [{**v, "isVariantOf": {"@id": "#group"}} for v in GROUP["hasVariant"]]
    html = page(ld(group) + "".join(ld(v) for v in variants))
    assert extract_product(html, URL + "?variant=43")["sku"] == "TS-43"
    p = extract_product(html, URL)
    assert (p["title"], p["price"], p["id"]) == ("Trail Shoe", Decimal("79.00"), "TS")
    loose = "".join(ld({**v, "inProductGroupWithID": "TS"}) for v in GROUP["hasVariant"])
    assert extract_product(page(loose), URL)["price"] == Decimal("79.00")


def test_sale_price_and_list_price_from_price_specifications():
    spec = [
        {"@type": "UnitPriceSpecification", "price": "59.00", "priceCurrency": "EUR"},
        {
            "@type": "UnitPriceSpecification",
            "priceType": "https://schema.org/ListPrice",
            "price": "89.00",
            "priceCurrency": "EUR",
        },
    ]
    p = extract_product(
        page(
            ld(
                product(
                    offers={
                        "@type": "Offer",
                        "priceSpecification": spec,
                        "priceValidUntil": "2027-01-31",
                        "availability": "https://schema.org/InStock",
                    }
                )
            )
        ),
        URL,
    )
    assert (p["price"], p["list_price"], p["currency"], p["price_valid_until"]) == (
        Decimal("59.00"),
        Decimal("89.00"),
        "EUR",
        "2027-01-31",
    )


def test_lowest_offer_in_the_pages_currency():
    offers = [offer("100.00", currency="EUR"), offer("20.00", currency="GBP"), offer("90.00", currency="EUR")]
    p = extract_product(page(ld(product(offers=offers))), URL)
    assert (p["price"], p["currency"]) == (Decimal("90.00"), "EUR")


# 9. degenerate values ------------------------------------------------------------------------------
def test_empty_price_object_keeps_the_product():
    p = extract_product(
        page(
            ld(product(sku="TS", offers={"@type": "Offer", "price": {}, "availability": "https://schema.org/InStock"}))
        ),
        URL,
    )
    assert p["title"] == "Trail Shoe" and p["price"] is None and p["availability"] == "in_stock"


def test_zero_price_when_out_of_stock_is_no_price():
    p = extract_product(page(ld(product(offers=offer("0", "OutOfStock")))), URL)
    assert p["price"] is None and p["availability"] == "out_of_stock"


# 10. non-product pages produce nothing -----------------------------------------------------------------
def test_recipe_page_with_an_affiliate_product_card():
    recipe = {"@context": "https://schema.org", "@type": "Recipe", "name": "Pancakes", "recipeIngredient": ["flour"]}
    card = product(name="Non-stick Pan", url="https://other.example/pan", offers=offer("25.00"))
    assert extract_product(page(ld(recipe) + ld(card)), "https://blog.example/pancakes") is None


def test_article_with_a_product_card_in_other_markup_or_a_buy_button():
    article = ld({"@context": "https://schema.org", "@type": "BlogPosting", "headline": "Best pans"})
    card = (
        '<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Pan</span>'
        '<img itemprop="image" src="/pan.jpg"><div itemprop="offers" itemscope '
        'itemtype="https://schema.org/Offer"><meta itemprop="price" content="25.00"></div></div>'
    )
    assert extract_product(page(article, card), "https://blog.example/best-pans") is None
    buy = '<h1>Best pans</h1><span class="price">€ 25,00</span><a role="button" href="/go">Buy now</a>'
    assert (
        extract_product(page('<meta property="og:type" content="article">', buy), "https://blog.example/best-pans")
        is None
    )


def test_product_page_with_a_product_video_is_still_a_product():
    video = {"@context": "https://schema.org", "@type": "VideoObject", "name": "Trail Shoe in action"}
    assert extract_product(page(ld(video) + ld(product(offers=offer("10.00")))), URL)["price"] == Decimal("10.00")


def test_site_wide_og_type_product_is_not_a_product():
    head = (
        '<meta property="og:type" content="product"><meta property="og:title" content="Shop Example">'
        '<meta property="og:image" content="https://cdn.example/logo.png">'
    )
    assert extract_product(page(head, "<h1>Welcome</h1>"), "https://shop.example/about") is None


def test_listing_of_product_cards_is_not_a_product():
    cards = "".join(
        f'<div itemscope itemtype="https://schema.org/Product"><a itemprop="url" href="/p/{n}">'
        f'<span itemprop="name">Shoe {n}</span></a><img itemprop="image" src="/{n}.jpg">'
        f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><meta itemprop="price" '
        f'content="{n}.00"></div></div>'
        for n in range(10, 14)
    )
    assert extract_product(page(body=cards), "https://shop.example/c/shoes") is None
    rated = cards.replace(
        '<span itemprop="name">Shoe 12</span>',
        '<span itemprop="name">Shoe 12</span><meta itemprop="sku" content="S12">',
    )
    assert extract_product(page(body=rated), "https://shop.example/c/shoes") is None  # one card a bit richer


def test_listing_of_product_cards_without_offers_is_not_a_product():
    cards = "".join(
        f'<div itemscope itemtype="https://schema.org/Product" itemid="S{n}"><span itemprop="name">Shirt {n}</span>'
        f'<meta itemprop="sku" content="S{n}"><img itemprop="image" src="/{n}.jpg"></div>'
        for n in range(10, 14)
    )
    assert extract_product(page(body="<h1>New in</h1>" + cards), "https://shop.example/new") is None
    own = cards.replace(
        '<span itemprop="name">Shirt 10</span>',
        '<span itemprop="name">Shirt 10</span>'
        '<meta itemprop="brand" content="Joe"><meta itemprop="description" content="Long">'
        '<meta itemprop="color" content="Navy">',
    )
    assert extract_product(page(body=own), URL)["title"] == "Shirt 10", "the page's own product says more"


def test_a_microdata_offer_without_properties_is_priced_by_its_text():
    html = page(
        body='<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Oil Rig</span>'
        '<img itemprop="image" src="/rig.jpg"><p>Our price: '
        '<span itemprop="offers" itemscope itemtype="https://schema.org/Offer">$41.30</span></p></div>'
    )
    assert extract_product(html, URL)["price"] == Decimal("41.30")
    worded = html.replace("$41.30", "Call us for the price of this rig, or see the €20 bowls beside it")
    found = extract_product(worded, URL)
    assert found["price"] is None, "a sentence is no price"
    assert found["currency"] != "EUR", "nor its currency"


def test_an_empty_product_itemscope_gives_way_to_the_page():
    """An ``itemscope`` typed Product with no properties (on a gallery, say) is no product: the
    page's title and price are read from its HTML instead of a nameless, priceless item."""
    html = page(
        body='<h1>Console Pack 500 GB</h1><div itemscope itemtype="https://schema.org/Product">'
        "<h2>More views</h2><img src='/pack-1.jpg'></div><span class='price'>399,99 €</span>"
        "<button>Add to cart</button>"
    )
    p = extract_product(html, URL)
    assert (p["title"], p["price"], p["currency"]) == ("Console Pack 500 GB", Decimal("399.99"), "EUR")


def test_a_nameless_product_takes_the_title_the_page_shows():
    p = extract_product(
        page(
            body=ld(product(name=None, offers=offer("5.00"))) + "<h1>Trail Shoe</h1><span class='price'>€5.00</span>"
            "<button>Add to cart</button>"
        ),
        URL,
    )
    assert (p["title"], p["price"]) == ("Trail Shoe", Decimal("5.00"))


def test_product_page_with_related_product_cards_alike():
    def item(name: str, url: str = "") -> str:
        link = f'<a itemprop="url" href="{url}">more</a>' if url else ""
        return (
            f'<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">{name}</span>{link}'
            f'<img itemprop="image" src="/{name}.jpg"><div itemprop="offers" itemscope '
            f'itemtype="https://schema.org/Offer"><meta itemprop="price" content="9.00"></div></div>'
        )

    html = page(body=item("Trail Shoe") + "".join(item(f"Other {n}", f"/p/{n}") for n in range(4)))
    assert extract_product(html, URL)["title"] == "Trail Shoe"


def test_nameless_product_is_quarantined_not_kept():
    p = extract_product(page(ld({"@type": "Product", "sku": "X", "image": "/x.jpg", "offers": offer("5.00")})), URL)
    with pytest.raises(InvalidProduct, match="missing title"):
        validate({**p, "product_id": "shop:X"})


# identity --------------------------------------------------------------------------------------------
def test_gtin_check_digit():
    assert to_gtin("4006381333931") == "4006381333931"  # EAN-13
    assert to_gtin("0 36000 29145 2") == "036000291452"  # UPC-12 as printed
    assert to_gtin("96385074") == "96385074"  # EAN-8
    assert to_gtin("10614141000415") == "10614141000415"  # GTIN-14
    assert [to_gtin(v) for v in ("4006381333932", "12345", "abc", "00000000", None)] == [None] * 5


def test_identity_fields_are_typed_and_validated():
    p = extract_product(
        page(
            ld(
                product(
                    sku="TS-1",
                    mpn="M-77",
                    gtin13="4006381333932",
                    brand={"@type": "Brand", "name": "Nordpeak"},
                    offers=offer("10.00"),
                )
            )
        ),
        URL,
    )
    item = validate({**p, "product_id": "shop:TS-1"})
    assert (item["sku"], item["mpn"], item["brand"], item["gtin"]) == ("TS-1", "M-77", "Nordpeak", None)


# the DOM fallback ------------------------------------------------------------------------------------
DOM_PAGE = page(
    '<meta property="og:image" content="https://cdn.example/shoe.jpg">',
    '<nav><span class="price">€ 5.00</span></nav><h1> Trail Shoe </h1>'
    '<div class="price-box"><del class="price">€ 120,00</del><span class="price-was">€ 110,00</span>'
    '<span class="oldPrice">€ 100,00</span><span class="price">Was € 95,00</span>'
    '<span class="product-price-wrapper">€ 89,95</span></div>'
    "<p>SKU: TS-2024</p>"
    '<button class="btn" type="submit">Add to cart</button>',
)


def test_dom_fallback_price_near_the_title_and_add_to_cart():
    p = extract_product(DOM_PAGE, URL)
    assert (p["title"], p["price"], p["currency"], p["sku"]) == ("Trail Shoe", Decimal("89.95"), "EUR", "TS-2024")


def test_dom_fallback_never_overrides_structured_data():
    html = DOM_PAGE.replace("</head>", ld(product(sku="LD-1", offers=offer("75.00"))) + "</head>")
    p = extract_product(html, URL)
    assert (p["price"], p["sku"]) == (Decimal("75.00"), "LD-1")


def test_dom_fallback_needs_a_product_page():
    listing = page(
        body="<h1>Shoes</h1>"
        + "".join(f'<div><span class="price">€ {n},00</span><button>Add to cart</button></div>' for n in range(10, 16))
    )
    assert extract_product(listing, "https://shop.example/c/shoes") is None
    small_listing = page(
        body="<h1>Shoes</h1>"
        + "".join(
            f'<div><h3>Shoe {n}</h3><span class="price">€ {n},00</span><button>Add to cart</button></div>'
            for n in range(10, 12)
        )
    )
    assert extract_product(small_listing, "https://shop.example/c/shoes") is None
    article = page(body='<h1>Ten shoes</h1><span class="price">€ 10,00</span>')
    assert extract_product(article, "https://blog.example/ten-shoes") is None


def test_dom_fallback_reads_a_price_split_into_parts_and_an_availability_block():
    html = page(
        body='<h1 id="title"><span>Trail Shoe</span></h1>'
        '<div class="price-block"><span class="a-price"><span class="offscreen">$29.99</span>'
        '<span aria-hidden="true"><span class="symbol">$</span><span class="whole">29</span>'
        '<span class="fraction">99</span></span></span></div>'
        '<div id="availability"><span>Currently unavailable.</span></div>'
        '<input type="submit" value="Add to Cart">'
    )
    p = extract_product(html, URL)
    assert (p["price"], p["currency"], p["availability"]) == (
        Decimal("29.99"),
        None,
        "out_of_stock",
    )  # "$" alone names no one currency


def test_dom_fallback_reads_microdata_outside_any_product_item():
    html = page(
        body='<h1>Trail Shoe</h1><p>Art. <span itemprop="sku">TS-77</span></p>'
        '<span itemprop="price" content="45.50">45,50 €</span><button>In den Warenkorb</button>'
    )
    p = extract_product(html, URL)
    assert (p["price"], p["sku"], p["availability"]) == (Decimal("45.50"), "TS-77", "in_stock")


def test_dom_fallback_with_a_cart_form_its_buttons_and_a_buy_now_button():
    html = page(
        body='<h1><span>Trail Shoe</span></h1><div id="price"><table><tr><td>List Price:</td>'
        '<td><span class="price-strike">$120.00</span></td></tr><tr><td>Price:</td>'
        '<td><span id="our-price">$89.00</span></td></tr></table></div>'
        '<form id="addToCart" action="/cart/handle"><input type="hidden" name="pid" value="TS4711X">'
        '<input type="submit" id="add-to-cart-button" value="Add to Cart">'
        '<input type="submit" id="buy-now-button" value="Buy Now"></form>'
        "<table><tr><th>Item model</th><td>TS-4711</td></tr></table>"
    )
    p = extract_product(html, "https://shop.example/Trail-Shoe/p/TS4711X/ref=x")
    assert (p["title"], p["price"], p["sku"], p["availability"]) == (
        "Trail Shoe",
        Decimal("89.00"),
        "TS4711X",
        "in_stock",
    )


def test_dom_fallback_sku_label_with_direction_marks():
    html = page(
        body='<h1>Trail Shoe</h1><span class="price">€ 10,00</span><button>Add to bag</button>'
        "<ul><li><span>Item number\u200f:\u200e </span><span>TS-99</span></li></ul>"
    )
    assert extract_product(html, URL)["sku"] == "TS-99"


# 9. image URLs of other schemes are kept for the image pipeline to reject with a reason -------------
@pytest.mark.parametrize(
    "markup",
    [
        ld(product(image=["file:///etc/passwd"])),
        MICRODATA.replace("https://cdn.example/shoe-large.jpg", "file:///etc/passwd"),
    ],
    ids=["jsonld", "microdata"],
)
def test_a_product_whose_only_image_is_a_file_url_is_invalid_and_says_why(markup):
    p = extract_product(page(body=markup), URL)
    assert p["image_urls"] == ["file:///etc/passwd"]
    with pytest.raises(InvalidProduct, match=r"^no images: unsupported scheme file$"):
        validate({**p, "product_id": "acme:1", "retailer": "acme"})


def test_an_image_of_another_scheme_beside_a_good_one_is_kept_in_page_order():
    images = ["https://cdn.example/a.jpg", "gopher://cdn.example/1/x.png", "data:image/gif;base64,R0lG"]
    p = extract_product(page(ld(product(image=images))), URL)
    assert p["image_urls"] == images[:2]
    assert validate({**p, "product_id": "acme:1", "retailer": "acme"})["image_urls"] == images[:2]


def test_product_id_with_a_scheme_prefix_is_the_bare_identifier():
    for product_id in ("isbn:9780552173742", "ISBN: 9780552173742", "sku:9780552173742"):
        assert extract_product(page(ld(product(productID=product_id))), URL)["sku"] == "9780552173742"
    assert extract_product(page(ld(product(sku="sku:856802", productID="856802"))), URL)["sku"] == "856802"


def test_an_offer_without_price_currency_takes_the_one_its_price_names():
    named = extract_product(page(ld(product(offers={"@type": "Offer", "price": "19.99 USD"}))), URL)
    assert (named["price"], named["currency"]) == (Decimal("19.99"), "USD")
    html = page(
        body='<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Steel wheel</span>'
        '<img itemprop="image" src="/w.jpg"><div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        '<span itemprop="price" class="prix">27,63<span class="devise">£</span></span></div></div>'
    )
    signed = extract_product(html, URL)
    assert (signed["price"], signed["currency"]) == (Decimal("27.63"), "GBP")
    dollars = extract_product(page(ld(product(offers={"@type": "Offer", "price": "$19.99"}))), URL)
    assert dollars["currency"] is None, "a dollar sign names no one currency"


@pytest.mark.parametrize(
    ("written", "code"),
    [("€", "EUR"), ("eur", "EUR"), ("Euro", "EUR"), ("lei", "RON"), ("KD", "KWD"), ("US$", "USD"), ("UAN", None)],
)
def test_a_price_currency_written_as_a_sign_or_word_is_its_iso_code_and_the_product_stays(written, code):
    # a sign or word in priceCurrency made the product fail validation ("bad currency '€'"), and a
    # three-letter typo passed as a code
    p = extract_product(page(ld(product(offers=offer("10.00", currency=written)))), URL)
    assert (p["price"], p["currency"]) == (Decimal("10.00"), code)
    assert validate({**p, "product_id": "shop:1", "retailer": "shop", "tags": []})["currency"] == code
