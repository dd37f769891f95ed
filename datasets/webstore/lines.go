package webstore

// The line formats. Formatting reads only the state it is given and never
// draws random numbers, so skipping it (before Start) changes nothing else.

const (
	siteHost = "www.example-store.com"
	siteURL  = "https://" + siteHost
)

// appendPath appends the request path of a page.
func appendPath(b []byte, p page, product uint32, term uint8, order uint64) []byte {
	switch p {
	case pHome:
		return append(b, '/')
	case pSearch:
		b = append(b, "/s?k="...)
		b = append(b, searchTerms[term]...)
		return append(b, "&ref=nb_sb_noss"...)
	case pProduct:
		b = append(b, "/product/"...)
		return appendASIN(b, product)
	case pRecs:
		b = append(b, "/api/recs?asin="...)
		b = appendASIN(b, product)
		return append(b, "&n=12"...)
	case pCartAdd:
		b = append(b, "/cart/add?asin="...)
		b = appendASIN(b, product)
		return append(b, "&qty=1"...)
	case pCart:
		return append(b, "/cart"...)
	case pSignin, pSigninPost:
		return append(b, "/ap/signin"...)
	case pCheckout:
		return append(b, "/checkout"...)
	case pPayment:
		return append(b, "/checkout/payment"...)
	case pPlaceOrder:
		return append(b, "/checkout/place-order"...)
	case pConfirm:
		b = append(b, "/order/confirmation?orderId="...)
		return appendOrder(b, order)
	}
	return append(b, '/')
}

// appendOrder appends an order number: 1NN-NNNNNNN-NNNNNNN.
func appendOrder(b []byte, order uint64) []byte {
	b = append(b, '1')
	b = appendPad2(b, int(order%100))
	b = append(b, '-')
	v := int(order / 100 % 10_000_000)
	b = appendPad3(b, v/10000)
	b = appendPad4(b, v%10000)
	b = append(b, '-')
	v = int(order / 1_000_000_000 % 10_000_000)
	b = appendPad3(b, v/10000)
	return appendPad4(b, v%10000)
}

// formatAccess writes an access-log line into g.line, NGINX's combined
// format followed by $request_time and $request_id.
func (g *Generator) formatAccess(s *session, p page, status uint16, bytes, reqTimeUs int64, reqHi, reqLo uint64, t int64) {
	g.clk.set(t)
	b := appendIP(g.line[:0], s.ip)
	b = append(b, " - - ["...)
	b = append(b, g.clk.apa...)
	b = append(b, "] \""...)
	b = append(b, pageTable[p].method...)
	b = append(b, ' ')
	b = appendPath(b, p, s.product, s.term, s.order)
	b = append(b, " HTTP/1.1\" "...)
	b = appendInt(b, int64(status))
	b = append(b, ' ')
	b = appendInt(b, bytes)
	b = append(b, " \""...)
	if s.flags&fHasPrev != 0 {
		b = append(b, siteURL...)
		b = appendPath(b, s.prev, s.prevProduct, s.prevTerm, s.order)
	} else {
		b = append(b, externalReferers[s.extRef]...)
	}
	b = append(b, "\" \""...)
	if s.flags&fBot != 0 {
		b = append(b, botAgents[s.ua]...)
	} else {
		b = append(b, userAgents[s.ua]...)
	}
	b = append(b, "\" "...)
	b = appendFixed3(b, reqTimeUs/1000)
	b = append(b, ' ')
	b = appendHex64(b, reqHi)
	g.line = appendHex64(b, reqLo)
}

// appendISO appends an ISO 8601 stamp with milliseconds and the zone.
func (g *Generator) appendISO(b []byte, t int64) []byte {
	g.clk.set(t)
	b = append(b, g.clk.iso...)
	b = append(b, '.')
	b = appendPad3(b, millis(t))
	return append(b, g.clk.zone...)
}

// appendPG appends PostgreSQL's log_line_prefix '%m [%p] '.
func (g *Generator) appendPG(b []byte, t, pid int64) []byte {
	g.clk.set(t)
	b = append(b, g.clk.pg...)
	b = append(b, '.')
	b = appendPad3(b, millis(t))
	b = append(b, ' ')
	b = append(b, g.clk.pgz...)
	b = append(b, " ["...)
	b = appendInt(b, pid)
	return append(b, "] "...)
}

// format writes job j's line into g.line.
func (g *Generator) format(j *job, t int64) {
	b := g.line[:0]
	switch j.kind {
	case jApp:
		b = g.appendISO(b, t)
		switch {
		case j.status >= 500:
			b = append(b, " ERROR "...)
		case j.latUs >= 1_000_000:
			b = append(b, " WARN  "...)
		default:
			b = append(b, " INFO  "...)
		}
		b = append(b, serviceNames[j.svc]...)
		b = append(b, ' ')
		b = append(b, g.hosts[j.host]...)
		b = append(b, " req="...)
		b = appendHex64(b, j.reqHi)
		b = appendHex64(b, j.reqLo)
		b = append(b, " method="...)
		b = append(b, pageTable[j.page].method...)
		b = append(b, " path="...)
		b = appendPath(b, j.page, j.product, j.term, uint64(j.aux))
		b = append(b, " status="...)
		b = appendInt(b, int64(j.status))
		b = append(b, " latency_ms="...)
		b = appendInt(b, j.latUs/1000)
		b = append(b, " user="...)
		b = appendUser(b, j.user)
		if j.errIdx >= 0 {
			b = append(b, " error=\""...)
			b = append(b, pageTable[j.page].failMsgs[j.errIdx]...)
			b = append(b, '"')
		}
	case jAppHealth:
		b = g.appendISO(b, t)
		b = append(b, " INFO  runtime "...)
		b = append(b, g.hosts[j.host]...)
		b = append(b, " msg=health heap_mb="...)
		b = appendInt(b, max(j.aux, 64))
		b = append(b, " goroutines="...)
		b = appendInt(b, max(j.aux2, 16))
		b = append(b, " gc_pause_us="...)
		b = appendInt(b, j.latUs)
		b = append(b, " inflight="...)
		b = appendInt(b, int64(j.product))
	case jNgxErr:
		w := int(j.host)
		g.clk.set(t)
		b = append(b, g.clk.ngx...)
		b = append(b, " [error] "...)
		b = appendInt(b, g.ngxPid[w])
		b = append(b, '#')
		b = appendInt(b, g.ngxPid[w])
		b = append(b, ": *"...)
		b = appendInt(b, j.aux)
		if j.status == 504 {
			b = append(b, " upstream timed out (110: Connection timed out) while reading response header from upstream"...)
		} else {
			b = append(b, " connect() failed (111: Connection refused) while connecting to upstream"...)
		}
		b = append(b, ", client: "...)
		b = appendIP(b, j.ip)
		b = append(b, ", server: "+siteHost+", request: \""...)
		b = append(b, pageTable[j.page].method...)
		b = append(b, ' ')
		b = appendPath(b, j.page, j.product, j.term, j.reqLo)
		b = append(b, " HTTP/1.1\", upstream: \"http://"...)
		b = appendIP(b, uint32(10<<24|1<<8|(10+j.aux2)))
		b = append(b, ":8080"...)
		b = appendPath(b, j.page, j.product, j.term, j.reqLo)
		b = append(b, "\", host: \""+siteHost+"\""...)
	case jDBSlow:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "app@store LOG:  duration: "...)
		b = appendFixed3(b, j.latUs)
		b = append(b, " ms  statement: "...)
		qt := &queryText[j.query]
		b = append(b, qt[0]...)
		switch j.query {
		case qProduct, qCartInsert:
			b = appendASIN(b, j.product)
		case qSearch:
			for _, c := range []byte(searchTerms[j.term]) {
				if c == '+' {
					c = ' '
				}
				b = append(b, c)
			}
		case qCartSelect:
			b = append(b, "c-"...)
			b = appendHex64(b, j.reqLo)
		case qCheckout:
			b = appendUser(b, j.user)
		case qOrder:
			b = appendOrder(b, j.reqLo)
		}
		b = append(b, qt[1]...)
	case jDBConnRecv:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "[unknown]@[unknown] LOG:  connection received: host="...)
		b = appendIP(b, j.ip)
		b = append(b, " port="...)
		b = appendInt(b, j.aux2)
	case jDBConnAuth:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "app@store LOG:  connection authorized: user=app database=store application_name="...)
		b = append(b, serviceNames[j.svc]...)
	case jDBDisconn:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "app@store LOG:  disconnection: session time: "...)
		ms := j.latUs / 1000
		b = appendInt(b, ms/3_600_000)
		b = append(b, ':')
		b = appendPad2(b, int(ms/60_000%60))
		b = append(b, ':')
		b = appendPad2(b, int(ms/1000%60))
		b = append(b, '.')
		b = appendPad3(b, int(ms%1000))
		b = append(b, " user=app database=store host="...)
		b = appendIP(b, j.ip)
		b = append(b, " port="...)
		b = appendInt(b, j.aux2)
	case jDBCkptStart:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "LOG:  checkpoint starting: time"...)
	case jDBCkptDone:
		b = g.appendPG(b, t, j.aux)
		b = append(b, "LOG:  checkpoint complete: wrote "...)
		b = appendInt(b, j.aux2)
		b = append(b, " buffers ("...)
		tenths := j.aux2 * 1000 / 16384
		b = appendInt(b, tenths/10)
		b = append(b, '.')
		b = appendInt(b, tenths%10)
		b = append(b, "%); 0 WAL file(s) added, 0 removed, "...)
		b = appendInt(b, int64(j.product))
		b = append(b, " recycled; write="...)
		b = appendFixed3(b, j.latUs/1000)
		b = append(b, " s, sync=0.0"...)
		b = appendPad2(b, int(j.aux2%89+10))
		b = append(b, " s, total="...)
		b = appendFixed3(b, j.latUs/1000+int64(j.aux2%89+10)+3)
		b = append(b, " s"...)
	}
	g.line = b
}

// appendUser appends a customer id, or "-" for none.
func appendUser(b []byte, u uint32) []byte {
	if u == 0 {
		return append(b, '-')
	}
	b = append(b, 'u')
	return appendInt(b, int64(u))
}
