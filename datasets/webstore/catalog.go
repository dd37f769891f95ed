package webstore

// Static tables: pages, services, queries, user agents, search terms.

// page is a kind of request a session makes.
type page uint8

const (
	pHome page = iota
	pSearch
	pProduct
	pRecs
	pCartAdd
	pCart
	pSignin
	pSigninPost
	pCheckout
	pPayment
	pPlaceOrder
	pConfirm
	numPages
)

// service is an app-tier service.
type service uint8

const (
	svcFrontend service = iota
	svcSearch
	svcCatalog
	svcRecs
	svcCart
	svcIdentity
	svcCheckout
	svcPayment
	svcOrder
	numServices
)

var serviceNames = [numServices]string{
	"frontend-svc", "search-svc", "catalog-svc", "recs-svc", "cart-svc",
	"identity-svc", "checkout-svc", "payment-svc", "order-svc",
}

// query is a kind of database statement.
type query uint8

const (
	qNone query = iota
	qProduct
	qSearch
	qCartInsert
	qCartSelect
	qCheckout
	qOrder
	numQueries
)

type pageInfo struct {
	method   string
	svc      service
	status   uint16  // status of success
	bytes    int     // median body bytes
	latMs    float64 // median app latency
	query    query   // database statement it may run
	queryP   float64 // probability it runs it (cache misses)
	failP    float64 // probability of an app 500 at base load
	failMsgs []string
}

var pageTable = [numPages]pageInfo{
	pHome:       {"GET", svcFrontend, 200, 38000, 30, qNone, 0, 0.0005, errGeneric},
	pSearch:     {"GET", svcSearch, 200, 52000, 55, qSearch, 1, 0.001, errSearch},
	pProduct:    {"GET", svcCatalog, 200, 61000, 25, qProduct, 0.15, 0.0005, errGeneric},
	pRecs:       {"GET", svcRecs, 200, 4200, 15, qNone, 0, 0.001, errGeneric},
	pCartAdd:    {"POST", svcCart, 200, 350, 22, qCartInsert, 1, 0.001, errDB},
	pCart:       {"GET", svcCart, 200, 24000, 20, qCartSelect, 1, 0.0005, errDB},
	pSignin:     {"GET", svcIdentity, 200, 12000, 12, qNone, 0, 0.0005, errGeneric},
	pSigninPost: {"POST", svcIdentity, 302, 0, 45, qNone, 0, 0.001, errGeneric},
	pCheckout:   {"GET", svcCheckout, 200, 31000, 40, qCheckout, 1, 0.001, errDB},
	pPayment:    {"POST", svcPayment, 200, 900, 240, qNone, 0, 0.004, errPayment},
	pPlaceOrder: {"POST", svcOrder, 302, 0, 85, qOrder, 1, 0.002, errDB},
	pConfirm:    {"GET", svcOrder, 200, 18000, 30, qNone, 0, 0.0005, errGeneric},
}

var (
	errGeneric = []string{"upstream dependency returned 503", "context deadline exceeded", "internal error: nil pointer dereference"}
	errSearch  = []string{"search index shard unavailable", "context deadline exceeded"}
	errDB      = []string{"db: connection pool exhausted", "db: deadlock detected", "context deadline exceeded"}
	errPayment = []string{"payment gateway timeout", "payment gateway returned 502", "fraud check unavailable"}
)

type queryInfo struct {
	medianMs float64
	sigma    float64
	primary  bool // runs on the primary (db-01)
}

var queryTable = [numQueries]queryInfo{
	qProduct:    {0.9, 1.3, false},
	qSearch:     {30, 0.85, false},
	qCartInsert: {2.5, 1.1, true},
	qCartSelect: {1.8, 1.2, false},
	qCheckout:   {4, 1.1, false},
	qOrder:      {9, 0.9, true},
}

// Statement texts, split around their parameter.
var queryText = [numQueries][2]string{
	qProduct:    {"SELECT p.asin, p.title, p.price_cents, i.qty FROM products p JOIN inventory i USING (asin) WHERE p.asin = '", "'"},
	qSearch:     {"SELECT asin, title, price_cents FROM products WHERE tsv @@ plainto_tsquery('english', '", "') ORDER BY rank DESC LIMIT 48"},
	qCartInsert: {"INSERT INTO cart_items (cart_id, asin, qty, added_at) VALUES ($1, '", "', 1, now()) ON CONFLICT (cart_id, asin) DO UPDATE SET qty = cart_items.qty + 1"},
	qCartSelect: {"SELECT c.asin, c.qty, p.price_cents FROM cart_items c JOIN products p USING (asin) WHERE c.cart_id = '", "'"},
	qCheckout:   {"SELECT a.line1, a.city, a.zip, pm.last4 FROM addresses a JOIN payment_methods pm USING (customer_id) WHERE a.customer_id = '", "'"},
	qOrder:      {"INSERT INTO orders (order_id, customer_id, total_cents, status, created_at) SELECT '", "', $2, SUM(qty * price_cents), 'PLACED', now() FROM cart_items WHERE cart_id = $3"},
}

// userAgents are human browsers with their weights (per mille).
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 Edg/129.0.0.0",
	"Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
	"Amazon/23.19.2 (iPhone; iOS 17.6; Scale/3.00)",
	"Amazon/23.19.0 (Android 14; Pixel 8)",
}

var userAgentCum = cumulative([]int{310, 240, 180, 90, 50, 40, 30, 20, 25, 15})

var botAgents = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
}

// externalReferers are where landing requests come from ("-" is none).
var externalReferers = []string{
	"-", "-", "-", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
	"https://duckduckgo.com/", "https://t.co/", "https://www.facebook.com/", "android-app://com.google.android.gm/",
}

// searchTerms are query-string encoded already.
var searchTerms = []string{
	"usb+c+cable", "wireless+earbuds", "phone+case", "laptop", "kindle", "coffee+maker", "air+fryer",
	"running+shoes", "lego", "yoga+mat", "water+bottle", "hdmi+cable", "sd+card", "led+strip+lights",
	"backpack", "monitor", "mechanical+keyboard", "gaming+mouse", "desk+lamp", "vacuum", "echo+dot",
	"fire+tv+stick", "batteries", "paper+towels", "dog+food", "cat+litter", "protein+powder",
	"vitamin+d", "toothbrush", "shampoo", "books", "headphones", "smart+watch", "charger",
	"power+bank", "office+chair", "blender", "knife+set", "bed+sheets", "pillow", "tent",
	"sunglasses", "wallet", "jeans", "t+shirt", "socks", "winter+jacket", "umbrella", "board+games",
	"puzzle", "printer+ink", "notebook", "pens", "router", "webcam", "microphone", "ssd", "ram",
	"graphics+card", "tv",
}

// cumulative turns weights into cumulative sums.
func cumulative(w []int) []int {
	c := make([]int, len(w))
	s := 0
	for i, v := range w {
		s += v
		c[i] = s
	}
	return c
}

// pick draws an index from cumulative weights.
func pick(r *rng, cum []int) int {
	x := r.Intn(cum[len(cum)-1])
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// numProducts is the size of the catalogue.
const numProducts = 200000

// appendASIN appends the product's ASIN: "B0" and 8 base-36 characters,
// a fixed function of the product index.
func appendASIN(b []byte, product uint32) []byte {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	v := mix64(uint64(product)+0x51ed27) % 2821109907456 // 36^8
	var tmp [8]byte
	for i := 7; i >= 0; i-- {
		tmp[i] = digits[v%36]
		v /= 36
	}
	b = append(b, 'B', '0')
	return append(b, tmp[:]...)
}
