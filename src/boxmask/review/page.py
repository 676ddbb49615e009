"""The review page: one static ``index.html`` (styles and script inline) and ``data.js``.

The page works from the file system (``file://``): no server, no network, no
``fetch`` (the data is a ``<script>`` that sets ``window.BOXMASK_REVIEW``). The label
counts, the problem kinds and the list of every image are plain HTML, so they read
without script; the grid of cards (thumbnail, item table, problems) is drawn by the
script, one page of cards at a time with lazy-loaded thumbnails, so 10,000 images
open as fast as 50. Filters: label, problem kind, file name; ``#img-<id>`` and
``#problem-<n>`` links jump to a card or a problem.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["index_html"]

PER_PAGE = 48

_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.35 system-ui,-apple-system,Segoe UI,
Roboto,sans-serif;color:#1d1d1f;background:#f4f4f6}header{padding:12px 20px;background:#20232a;
color:#fff}header h1{margin:0 0 4px;font-size:18px}header a{color:#9cf}.wrap{display:flex;
gap:16px;padding:16px}aside{flex:0 0 270px;max-height:calc(100vh - 90px);overflow:auto;
position:sticky;top:8px}main{flex:1;min-width:0}section{background:#fff;border-radius:8px;
padding:10px 12px;margin-bottom:12px;box-shadow:0 1px 2px #0002}h2{font-size:14px;margin:0 0 6px}
table{border-collapse:collapse;width:100%}td,th{padding:2px 4px;text-align:left;
font-variant-numeric:tabular-nums}th{font-weight:600;color:#555}.num{text-align:right}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;
vertical-align:-1px;border:1px solid #0003}.pick{cursor:pointer}.pick:hover{background:#eef}
.on{background:#dde8ff}.bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;
margin-bottom:10px}select,input{font:inherit;padding:3px 6px}button{font:inherit;
padding:3px 10px;cursor:pointer}.grid{display:grid;grid-template-columns:repeat(auto-fill,
minmax(280px,1fr));gap:12px}.card{background:#fff;border-radius:8px;overflow:hidden;
box-shadow:0 1px 2px #0002;border:2px solid transparent}.card.bad{border-color:#d33}
.card.hit{outline:3px solid #fa0}.card img,.noimg{display:block;width:100%;height:190px;
object-fit:contain;background:#222}.noimg{color:#bbb;display:flex;align-items:center;
justify-content:center;padding:10px;text-align:center;font-size:12px}.meta{padding:6px 8px}
.name{font-weight:600;word-break:break-all}.dim{color:#777;font-size:12px}.items{max-height:
150px;overflow:auto;font-size:12px;margin-top:4px}.probs{margin:4px 0 0;padding:0;
list-style:none;font-size:12px}.probs li{background:#fde8e8;color:#8a1010;border-radius:4px;
padding:2px 5px;margin-top:3px}.probs a{color:#8a1010}
#problems li{margin:2px 0}details summary{cursor:pointer}ol{padding-left:22px;margin:4px 0}
"""

_SCRIPT = r"""
(function(){
var D=window.BOXMASK_REVIEW;if(!D){document.getElementById('grid').textContent=
'data.js did not load: keep index.html and data.js together.';return;}
var IM=D.images,PER=%(per)d,page=0,label=-1,kind=-2,text='',shown=[];
var byId={};IM.forEach(function(r,i){byId[String(r[0])]=i;});
function el(t,a,c){var e=document.createElement(t);if(a)for(var k in a)e.setAttribute(k,a[k]);
if(c!=null)e.textContent=c;return e;}
function match(r){if(label>=0&&!r[6].some(function(it){return it[0]===label;}))return false;
if(kind===-1&&!r[7].length)return false;if(kind===-3&&r[7].length)return false;
if(kind>=0&&!r[7].some(function(p){return D.problems[p][0]===kind;}))return false;
if(text&&String(r[1]).toLowerCase().indexOf(text)<0)return false;return true;}
function card(r){var c=el('div',{'class':'card'+(r[7].length?' bad':''),id:'img-'+r[0]});
if(r[4]){var a=el('a',{href:r[5]||r[4]});a.appendChild(el('img',{src:r[4],loading:'lazy',
alt:r[1]}));c.appendChild(a);}else c.appendChild(el('div',{'class':'noimg'},r[8]||
'image not found (pass --images DIR)'));var m=el('div',{'class':'meta'});
m.appendChild(el('div',{'class':'name'},r[1]));m.appendChild(el('div',{'class':'dim'},
'id '+r[0]+' \u00b7 '+r[2]+'\u00d7'+r[3]+' \u00b7 '+r[6].length+' items'+
(r[7].length?' \u00b7 '+r[7].length+' problems':'')));
if(r[6].length){var box=el('div',{'class':'items'}),t=el('table');
var h=el('tr');['#','label','area','box x,y,w,h'].forEach(function(s){h.appendChild(el('th',null,s));});
t.appendChild(h);r[6].forEach(function(it,k){var tr=el('tr');
tr.appendChild(el('td',null,k));var td=el('td');var sw=el('span',{'class':'sw'});
sw.style.background=D.label_colors[it[0]]||'#999';td.appendChild(sw);
td.appendChild(document.createTextNode((D.labels[it[0]]||'?')+(it[6]!=null?' '+
Math.round(it[6]*100)+'%%':'')));tr.appendChild(td);tr.appendChild(el('td',{'class':'num'},
it[1]));tr.appendChild(el('td',null,[it[2],it[3],it[4],it[5]].join(', ')));t.appendChild(tr);});
box.appendChild(t);m.appendChild(box);}
if(r[7].length){var ul=el('ul',{'class':'probs'});r[7].forEach(function(p){var q=D.problems[p];
var li=el('li');var a=el('a',{href:'#problem-'+p},D.kinds[q[0]]);li.appendChild(a);
li.appendChild(document.createTextNode((q[2]!=null?' answer item '+q[2]:'')+(q[4]?' (dropped)':'')+
': '+q[3]+' '));if(D.report){li.appendChild(el('a',{href:D.report,title:q[5]},'['+q[5]+']'));}
ul.appendChild(li);});m.appendChild(ul);}c.appendChild(m);return c;}
function draw(){shown=[];IM.forEach(function(r,i){if(match(r))shown.push(i);});
var pages=Math.max(1,Math.ceil(shown.length/PER));if(page>=pages)page=pages-1;
var g=document.getElementById('grid');g.textContent='';
shown.slice(page*PER,(page+1)*PER).forEach(function(i){var r=IM[i].slice();
r[8]=(D.thumb_notes||{})[r[0]];g.appendChild(card(r));});
document.getElementById('count').textContent=shown.length+' of '+IM.length+' images';
document.getElementById('pageinfo').textContent='page '+(page+1)+' / '+pages;
document.querySelectorAll('[data-label]').forEach(function(e){e.classList.toggle('on',
+e.getAttribute('data-label')===label);});
document.querySelectorAll('[data-kind]').forEach(function(e){e.classList.toggle('on',
+e.getAttribute('data-kind')===kind);});}
function go(id){label=-1;kind=-2;text='';sync();var i=byId[id];if(i==null)return;
draw();var at=shown.indexOf(i);page=Math.floor(at/PER);draw();var c=document.getElementById('img-'+id);
if(c){c.classList.add('hit');c.scrollIntoView({block:'center'});}}
function sync(){document.getElementById('label').value=label;document.getElementById('kind').value=kind;
document.getElementById('text').value=text;}
var ls=document.getElementById('label'),ks=document.getElementById('kind');
D.labels.forEach(function(n,k){ls.appendChild(el('option',{value:k},n+' ('+D.label_counts[k]+')'));});
D.kinds.forEach(function(n,k){ks.appendChild(el('option',{value:k},n+' ('+D.kind_counts[k]+')'));});
ls.onchange=function(){label=+ls.value;page=0;draw();};ks.onchange=function(){kind=+ks.value;page=0;draw();};
document.getElementById('text').oninput=function(e){text=e.target.value.toLowerCase();page=0;draw();};
document.getElementById('prev').onclick=function(){if(page>0){page--;draw();scrollTo(0,0);}};
document.getElementById('next').onclick=function(){page++;draw();scrollTo(0,0);};
document.querySelectorAll('[data-label]').forEach(function(e){e.onclick=function(){
label=+e.getAttribute('data-label');kind=-2;page=0;sync();draw();};});
document.querySelectorAll('[data-kind]').forEach(function(e){e.onclick=function(){
kind=+e.getAttribute('data-kind');label=-1;page=0;sync();draw();};});
function hash(){var h=decodeURIComponent(location.hash.slice(1));
if(h.indexOf('img-')===0)go(h.slice(4));}
window.addEventListener('hashchange',hash);draw();hash();
})();
"""


def _label_rows(data: dict[str, Any]) -> str:
    rows = []
    order = sorted(range(len(data["labels"])), key=lambda k: -data["label_counts"][k])
    for k in order:
        rows.append(
            f'<tr class="pick" data-label="{k}"><td><span class="sw" '
            f'style="background:{data["label_colors"][k]}"></span>'
            f'{escape(data["labels"][k])}</td><td class="num">{data["label_counts"][k]}</td></tr>'
        )
    return "".join(rows) or '<tr><td class="dim">no labels</td></tr>'


def _kind_rows(data: dict[str, Any]) -> str:
    rows = [
        f'<tr class="pick" data-kind="{k}"><td>{escape(name)}</td>'
        f'<td class="num">{data["kind_counts"][k]}</td></tr>'
        for k, name in enumerate(data["kinds"])
    ]
    return "".join(rows) or '<tr><td class="dim">no problems</td></tr>'


def _problem_items(data: dict[str, Any], limit: int = 2000) -> str:
    out = []
    for n, (kind, image, item, message, dropped, where) in enumerate(data["problems"][:limit]):
        target = f'<a href="#img-{escape(str(image))}">image {escape(str(image))}</a>'
        place = target if image is not None else "no image"
        item_text = f", answer item {item}" if item is not None else ""
        out.append(
            f'<li id="problem-{n}"><b>{escape(data["kinds"][kind])}</b> ({place}{item_text}'
            f"{', dropped' if dropped else ''}): {escape(message)} "
            f'<span class="dim">[{escape(where)}]</span></li>'
        )
    if len(data["problems"]) > limit:
        out.append(f'<li class="dim">… {len(data["problems"]) - limit} more in the report</li>')
    return "".join(out)


def _image_index(data: dict[str, Any]) -> str:
    return "".join(
        f'<li><a href="#img-{escape(str(r[0]))}">{escape(str(r[1]))}</a></li>'
        for r in data["images"]
    )


def index_html(data: dict[str, Any]) -> str:
    """The page for ``data`` (the dict that ``data.js`` holds)."""
    title = escape(data.get("title", "boxmask review"))
    report = data.get("report")
    report_link = f' · <a href="{escape(report)}">report</a>' if report else ""
    n_problems = len(data["problems"])
    summary = (
        f"{len(data['images'])} images · {sum(len(r[6]) for r in data['images'])} items · "
        f"{len(data['labels'])} labels · {n_problems} problems"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_CSS}</style></head>
<body><header><h1>{title}</h1><div>{escape(summary)} ·
<a href="{escape(data.get("coco", ""))}">COCO file</a>{report_link}</div></header>
<div class="wrap"><aside>
<section><h2>Labels</h2><table><tr><th>label</th><th class="num">items</th></tr>
{_label_rows(data)}</table></section>
<section><h2>Problems by kind</h2><table>{_kind_rows(data)}</table></section>
<section><details><summary><b>All images</b> ({len(data["images"])})</summary>
<ol id="all-images">{_image_index(data)}</ol></details></section>
</aside><main>
<div class="bar"><label>Label <select id="label"><option value="-1">all labels</option></select>
</label><label>Problems <select id="kind"><option value="-2">all images</option>
<option value="-1">with any problem</option><option value="-3">without problems</option>
</select></label><input id="text" placeholder="file name" size="14">
<button id="prev">&larr;</button><span id="pageinfo"></span><button id="next">&rarr;</button>
<span id="count" class="dim"></span></div>
<div id="grid" class="grid"></div>
<section style="margin-top:14px"><h2>Problems ({n_problems})</h2>
<ol id="problems" start="0">{_problem_items(data)}</ol></section>
</main></div>
<script src="data.js"></script>
<script>{_SCRIPT % {"per": PER_PAGE}}</script>
</body></html>
"""
