"""Reply texts, Indonesian first and English, filled in with str.format."""
from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "ack": {
        "id": "Terima kasih, laporan Anda sudah kami terima dengan nomor tiket {ticket}.\n"
              "Kategori: {category}.\n"
              "Lokasi: {place}.\n"
              "Kami kabari setiap ada perkembangan. Cek status kapan saja dengan /status {ticket}{link}",
        "en": "Thank you, we have received your report as ticket {ticket}.\n"
              "Category: {category}.\n"
              "Location: {place}.\n"
              "We will tell you of every change. Check its status any time with /status {ticket}{link}",
    },
    # The ack's {link}: the ticket's public page, when web.public_url is set (router/links.py); else "".
    "ack_link": {"id": "\nLihat: {url}", "en": "\nSee: {url}"},
    "category_unsure": {"id": " (belum pasti; petugas akan memeriksa)", "en": " (not certain; an officer will check)"},
    "place_unknown": {"id": "belum diketahui — balas dengan alamat atau kelurahan, atau bagikan lokasi Anda",
                      "en": "not known yet — reply with the address or kelurahan, or share your location"},
    # For channels where a citizen cannot share a location (Twitter, email).
    "place_unknown_text": {"id": "belum diketahui — balas dengan alamat (nama jalan, RT/RW) dan kelurahannya",
                           "en": "not known yet — reply with the address (street, RT/RW) and its kelurahan"},
    "place_vague": {"id": "{area} — belum cukup tepat: balas dengan nama jalan dan kelurahannya, atau bagikan lokasi Anda",
                    "en": "{area} — not precise enough: reply with the street and its kelurahan, or share your location"},
    "place_vague_text": {"id": "{area} — belum cukup tepat: balas dengan nama jalan dan kelurahannya",
                         "en": "{area} — not precise enough: reply with the street and its kelurahan"},
    "place_outside": {"id": "di luar wilayah DKI Jakarta — kanal ini untuk laporan di Jakarta; balas dengan alamat "
                            "di Jakarta atau bagikan lokasi di Jakarta",
                      "en": "outside DKI Jakarta — this channel takes reports in Jakarta; reply with an address in "
                            "Jakarta or share a location in Jakarta"},
    "place_outside_again": {"id": "Lokasi itu di luar wilayah DKI Jakarta. Tiket {ticket} hanya bisa ditangani bila "
                                  "lokasinya di Jakarta: bagikan lokasi di Jakarta, atau tulis alamatnya, contoh: "
                                  "\"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\".",
                            "en": "That place is outside DKI Jakarta. Ticket {ticket} can only be handled in Jakarta: "
                                  "share a location in Jakarta, or write the address, e.g. "
                                  "\"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\"."},
    "place_now": {"id": "Lokasinya: {place}.", "en": "Its place: {place}."},
    "place_set": {"id": "Terima kasih. Lokasi tiket {ticket}: {place}.",
                  "en": "Thank you. Ticket {ticket} is at: {place}."},
    "ask_place_again": {"id": "Maaf, kami belum bisa menentukan lokasi tiket {ticket} dengan tepat. Tulis nama jalan dan "
                              "kelurahannya, contoh: \"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\", "
                              "atau bagikan lokasi Anda.",
                        "en": "Sorry, we cannot tell exactly where ticket {ticket} is yet. Write the street and its "
                              "kelurahan, e.g. \"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\", or share "
                              "your location."},
    "ask_place_again_text": {"id": "Maaf, kami belum bisa menentukan lokasi tiket {ticket} dengan tepat. Tulis nama jalan dan "
                                   "kelurahannya, contoh: \"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\".",
                             "en": "Sorry, we cannot tell exactly where ticket {ticket} is yet. Write the street and "
                                   "its kelurahan, e.g. \"Jl. Kemang Raya No. 5, Kel. Bangka, Mampang Prapatan\"."},
    "place_dropped": {"id": "Baik, tiket {ticket} kami lanjutkan tanpa lokasi yang pasti (lokasi belum jelas); "
                            "petugas mungkin menanyakannya lagi.",
                      "en": "All right, ticket {ticket} goes on without an exact place (place unclear); an officer "
                            "may ask you again."},
    "question_reminder_place": {"id": "\n\nCatatan: tiket {ticket} masih menunggu lokasinya. Balas dengan alamat "
                                      "atau kelurahannya.",
                                "en": "\n\nNote: ticket {ticket} still needs its place. Reply with the address or "
                                      "its kelurahan."},
    "stale_closed": {"id": "Tombol ini tidak berlaku lagi: tiket {ticket} berstatus \"{status}\".",
                     "en": "This button no longer applies: ticket {ticket} is \"{status}\"."},
    "ack_needs_detail": {
        "id": "Laporan Anda tercatat dengan nomor tiket {ticket}. Mohon ceritakan masalahnya dan lokasinya "
              "(alamat, kelurahan, atau bagikan lokasi) agar petugas bisa menindaklanjuti.",
        "en": "Your report is filed as ticket {ticket}. Please tell us what the problem is and where "
              "(address, kelurahan, or share your location) so officers can act on it.",
    },
    "merged": {
        "id": "Terima kasih! Laporan yang sama ({category}) sudah ada di dekat lokasi Anda: tiket {ticket}, "
              "status: {status}. Anda kami catat sebagai pelapor juga dan akan menerima setiap perkembangannya.",
        "en": "Thank you! The same problem ({category}) is already reported near you: ticket {ticket}, status: "
              "{status}. You are added as a reporter and will receive every update.",
    },
    "attached": {
        "id": "{what} sudah ditambahkan ke tiket {ticket}. Terima kasih!",
        "en": "{what} added to ticket {ticket}. Thank you!",
    },
    "comment": {
        "id": "Tambahan informasi sudah dicatat untuk tiket {ticket}.",
        "en": "Your additional information is recorded on ticket {ticket}.",
    },
    "chit_chat": {
        "id": "Halo! Untuk melapor, kirim apa masalahnya dan di mana (alamat, kelurahan, atau bagikan lokasi). "
              "Foto sangat membantu. Ketik /help untuk bantuan.",
        "en": "Hello! To report, send what the problem is and where (address, kelurahan, or share your "
              "location). A photo helps a lot. Type /help for help.",
    },
    "start": {
        "id": "Selamat datang di kanal laporan warga Jakarta.\n"
              "Kirim laporan Anda: apa masalahnya (banjir, sampah, parkir liar, jalan rusak, dll.) dan di mana "
              "(alamat, kelurahan, atau bagikan lokasi). Foto sangat membantu.\n"
              "Setiap laporan mendapat nomor tiket; cek dengan /status <nomor tiket>. Bantuan: /help",
        "en": "Welcome to Jakarta's citizen report channel.\n"
              "Send your report: what the problem is (flood, garbage, illegal parking, broken road, etc.) and "
              "where (address, kelurahan, or share your location). A photo helps a lot.\n"
              "Every report gets a ticket number; check it with /status <ticket number>. Help: /help",
    },
    "help": {
        "id": "Cara melapor: tulis masalahnya dan lokasinya dalam satu pesan, boleh dengan foto, atau bagikan "
              "lokasi Anda.\nPerintah:\n/status <nomor tiket> — status laporan\n/status — laporan terakhir Anda\n"
              "/publik nama <nama samaran> — tampil di daftar pelapor teraktif (opsional)\n/help — bantuan ini",
        "en": "How to report: write the problem and where it is in one message, with a photo if you can, or "
              "share your location.\nCommands:\n/status <ticket number> — status of a report\n"
              "/status — your latest reports\n/publik nama <handle> — appear among the top reporters "
              "(optional)\n/help — this help",
    },
    "status": {
        "id": "Tiket {ticket}\nStatus: {status}\nKategori: {category}\nDibuat: {created}",
        "en": "Ticket {ticket}\nStatus: {status}\nCategory: {category}\nFiled: {created}",
    },
    "status_unknown": {
        "id": "Tiket {ticket} tidak ditemukan. Periksa lagi nomornya, contoh: /status JKT-2026-000123",
        "en": "Ticket {ticket} was not found. Please check the number, e.g. /status JKT-2026-000123",
    },
    # --- /publik: a public alias for the top reporters (router/aliases.py; HB, issue 20) ---
    "alias_usage": {
        "id": "Nama Anda tidak tampil di halaman publik. Bila mau tampil di daftar pelapor teraktif dengan nama "
              "samaran, kirim: /publik nama <nama samaran> (3–24 huruf/angka, bukan nomor telepon, email, atau "
              "tautan). Berhenti tampil: /publik hapus",
        "en": "You are not shown on the public page. To appear among the top reporters under a handle, send: "
              "/publik nama <handle> (3–24 letters or digits, no phone number, email or link). To stop: "
              "/publik hapus",
    },
    "alias_current": {
        "id": "Anda tampil di daftar pelapor teraktif sebagai \"{alias}\". Ganti: /publik nama <nama samaran>; "
              "berhenti tampil: /publik hapus",
        "en": "You appear among the top reporters as \"{alias}\". Change it: /publik nama <handle>; stop: "
              "/publik hapus",
    },
    "alias_set": {
        "id": "Baik, Anda akan tampil di daftar pelapor teraktif sebagai \"{alias}\" (hanya nama samaran dan "
              "jumlah laporan, tanpa isi laporan). Berhenti tampil kapan saja: /publik hapus",
        "en": "Done: you will appear among the top reporters as \"{alias}\" (the handle and a count only, never "
              "your reports). Stop any time: /publik hapus",
    },
    "alias_cleared": {"id": "Baik, nama samaran Anda sudah dihapus; Anda tidak lagi tampil di halaman publik.",
                      "en": "Done: your handle is removed; you are no longer shown on the public page."},
    "alias_none": {"id": "Anda memang tidak tampil di halaman publik.", "en": "You are not shown on the public page."},
    "alias_short": {"id": "Maaf, nama samaran minimal 3 huruf. Contoh: /publik nama Warga Tebet",
                    "en": "Sorry, a handle needs at least 3 letters. E.g. /publik nama Tebet Neighbour"},
    "alias_long": {"id": "Maaf, nama samaran paling panjang 24 karakter. Coba yang lebih pendek.",
                   "en": "Sorry, a handle can be at most 24 characters. Please try a shorter one."},
    "alias_chars": {"id": "Maaf, nama samaran hanya boleh berisi huruf, angka, spasi, titik, garis bawah, atau "
                          "tanda hubung, dengan minimal 2 huruf.",
                    "en": "Sorry, a handle may only hold letters, digits, spaces, dots, underscores or hyphens, "
                          "with at least 2 letters."},
    "alias_contact": {"id": "Maaf, nama samaran tidak boleh berisi nomor telepon, alamat email, atau tautan: demi "
                            "keamanan Anda, pilih nama lain.",
                      "en": "Sorry, a handle may not hold a phone number, an email address or a link: for your "
                            "safety, please choose another."},
    "alias_reserved": {"id": "Maaf, nama samaran itu bisa dikira akun resmi. Pilih nama lain.",
                       "en": "Sorry, that handle could be taken for an official account. Please choose another."},
    "alias_taken": {"id": "Maaf, nama samaran itu sudah dipakai warga lain. Pilih nama lain.",
                    "en": "Sorry, another citizen already uses that handle. Please choose another."},
    "alias_unavailable": {"id": "Maaf, nama samaran belum bisa diatur dari kanal ini.",
                          "en": "Sorry, a handle cannot be set from this channel."},
    # --- end /publik ---
    "status_none": {
        "id": "Anda belum punya laporan. Kirim laporan Anda kapan saja.",
        "en": "You have no reports yet. Send one any time.",
    },
    "status_list": {
        "id": "Laporan terakhir Anda:\n{lines}\nDetail: /status <nomor tiket>",
        "en": "Your latest reports:\n{lines}\nDetails: /status <ticket number>",
    },
    "category_unknown": {"id": "belum ditentukan (akan ditinjau petugas)", "en": "not yet decided (an officer will review it)"},
    "what_location": {"id": "Lokasi", "en": "Location"},
    "what_photo": {"id": "Foto", "en": "Photo"},
    "what_both": {"id": "Foto dan lokasi", "en": "Photo and location"},
    # Citizen updates: one per ticket status change, to every reporter.
    "update_assigned": {"id": "Tiket {ticket}: laporan Anda sudah diteruskan ke {who}.",
                        "en": "Ticket {ticket}: your report has gone to {who}."},
    "update_unrouted": {"id": "Tiket {ticket}: laporan Anda tercatat di antrean CROP, tetapi belum ada petugas "
                              "atau unit yang menerima laporan {agency} untuk wilayah ini. Kami kabari begitu "
                              "laporan diteruskan.",
                        "en": "Ticket {ticket}: your report is in the CROP queue, but no officer or unit takes "
                              "{agency} reports for this area yet. We will tell you once it is sent on."},
    "who_officers": {"id": "petugas {agency}", "en": "the officers of {agency}"},
    "who_unit": {"id": "{unit} ({agency})", "en": "{unit} ({agency})"},
    "who_agency_desk": {"id": "meja layanan {agency}", "en": "the {agency} desk"},
    "who_triage": {"id": "tim triase kota (akan diteruskan ke {agency})",
                   "en": "the city's triage team (to pass on to {agency})"},
    "agency_unknown": {"id": "dinas terkait", "en": "the responsible agency"},
    "update_taken": {"id": "Tiket {ticket}: laporan Anda sedang ditangani oleh petugas {agency}.",
                     "en": "Ticket {ticket}: an officer of {agency} is handling your report."},
    "update_in_progress": {"id": "Tiket {ticket}: sedang ditangani petugas.{note}",
                           "en": "Ticket {ticket}: an officer is working on it.{note}"},
    "update_resolved": {"id": "Tiket {ticket}: petugas menyatakan masalah sudah ditangani.{note}\n"
                               "Apakah sudah beres? Balas \"sudah\" atau \"belum\".",
                        "en": "Ticket {ticket}: the officer reports the problem is fixed.{note}\n"
                              "Is it fixed? Reply \"yes\" or \"no\"."},
    "update_closed": {"id": "Tiket {ticket} ditutup. Terima kasih atas laporan Anda!",
                      "en": "Ticket {ticket} is closed. Thank you for your report!"},
    "update_reopened": {"id": "Tiket {ticket} dibuka kembali dan dikirim lagi ke petugas.{note}",
                        "en": "Ticket {ticket} is reopened and sent back to the officers.{note}"},
    "update_rejected": {"id": "Tiket {ticket} tidak dapat ditindaklanjuti.{note}",
                        "en": "Ticket {ticket} cannot be acted on.{note}"},
    # Officers' side (Indonesian first: officers use the city's language).
    "card": {"id": "📋 Laporan {ticket} — {category}\nLokasi: {place}\nPeta: {map}\nSumber: {sources}\n\n"
                   "{text}\n\nBalas kartu ini: \"ambil\", \"proses <catatan>\", \"selesai\" (dengan foto hasil), "
                   "\"tolak <alasan>\", atau \"alihkan <tujuan> <alasan>\".",
             "en": "📋 Report {ticket} — {category}\nPlace: {place}\nMap: {map}\nSources: {sources}\n\n"
                   "{text}\n\nReply to this card: \"take\", \"progress <note>\", \"done\" (with a photo of the "
                   "result), \"reject <reason>\", or \"reassign <target> <reason>\"."},
    # A card's sources: the citizens who reported it, and the Waze alerts that back it up.
    "source_citizens": {"id": "{count} warga ({channels})", "en": "{count} citizen(s) ({channels})"},
    "source_waze": {"id": "Waze: {count} laporan pengemudi (skor {score}/25)",
                    "en": "Waze: {count} driver alert(s) (score {score}/25)"},
    "waze_gone_note": {"id": "laporan Waze sudah tidak ada lagi di feed; tidak ada laporan warga",
                       "en": "the Waze alert has left the feed; no citizen reported it"},
    "waze_closed_officer": {"id": "Tiket {ticket} ditutup otomatis: {note}.",
                            "en": "Ticket {ticket} closed itself: {note}."},
    "officer_confirmed": {"id": "✅ Tiket {ticket} dikonfirmasi warga, tiket ditutup.{words}",
                          "en": "✅ Ticket {ticket} confirmed by the reporter; it is closed.{words}"},
    "officer_reopened": {"id": "🔁 Tiket {ticket} dibuka kembali oleh warga: belum beres.{words}",
                         "en": "🔁 Ticket {ticket} reopened by the reporter: not fixed.{words}"},
    "officer_words": {"id": "\nKata warga: \"{text}\"", "en": "\nThe reporter says: \"{text}\""},
    # --- HF: officers' live location (router/positions.py) ---
    "live_location_on": {"id": "📍 Lokasi langsung Anda terlihat oleh supervisor di peta petugas sampai {until}. "
                               "Hentikan berbagi lokasi di Telegram kapan saja; lokasi Anda tidak pernah ditampilkan "
                               "ke publik.",
                         "en": "📍 Supervisors see your live location on the officers' map until {until}. Stop "
                               "sharing in Telegram at any time; your location is never shown publicly."},
    "live_location_old": {"id": "Lokasi langsung ini lebih lama dari yang sudah kami terima; tidak dipakai.",
                          "en": "This live location is older than one we already have; it is not used."},
    # --- end HF ---
    "place_unclear": {"id": "lokasi belum jelas", "en": "place unclear"},
    "card_rerouted": {"id": "↪️ Tiket {ticket}: pelapor mengubah kategorinya ({before} → {after}); tiket dikirim ke "
                            "dinas yang sesuai. Kartu ini tidak berlaku lagi.",
                      "en": "↪️ Ticket {ticket}: the reporter changed its category ({before} → {after}); it goes to the "
                            "right agency. This card no longer applies."},
    "card_reopened": {"id": "🔁 Dibuka kembali oleh pelapor: ", "en": "🔁 Reopened by the reporter: "},
    "category_set": {"id": "Terima kasih. Kategori tiket {ticket}: {category}.",
                     "en": "Thank you. Ticket {ticket} is now: {category}."},
    "category_too_late": {"id": "Tiket {ticket} sudah ditangani petugas; kategorinya tidak bisa diubah lagi.",
                          "en": "Ticket {ticket} is already with an officer; its category can no longer change."},
    "category_choice_unknown": {"id": "Pilihan itu tidak dikenali. Tekan salah satu tombol, atau balas dengan angkanya.",
                                "en": "That choice is not known. Press one of the buttons, or reply with its number."},
    "category_question": {"id": "\nBenarkah kategorinya? Pilih di bawah.", "en": "\nIs that the right category? Choose below."},
    # What the approved template sent after a channel's answer window says (config.yaml: whatsapp.window_template):
    # the stored text of the notice, so the dashboard shows what the citizen was told.
    "window_notice": {"id": "Ada kabar terbaru tentang laporan {ticket} Anda. Balas pesan ini untuk membacanya.",
                      "en": "There is news about your report {ticket}. Reply to this message to read it."},
    "menu_hint": {"id": "Balas dengan angka pilihan Anda:", "en": "Reply with the number of your choice:"},
    "btn_share_location": {"id": "📍 Bagikan lokasi", "en": "📍 Share location"},
    "sla_response": {"id": "belum ada tanggapan petugas", "en": "no officer has responded"},
    "sla_resolution": {"id": "belum selesai ditangani", "en": "not resolved"},
    "sla_reminder": {"id": "⏰ Pengingat: tiket ini {what} setelah {hours} jam (melewati target).\n\n",
                     "en": "⏰ Reminder: this ticket is {what} after {hours} h (past its target).\n\n"},
    "sla_escalated": {"id": "⚠️ Eskalasi ke Anda ({role}): tiket ini {what} setelah {hours} jam.\n\n",
                      "en": "⚠️ Escalated to you ({role}): this ticket is {what} after {hours} h.\n\n"},
    "btn_take": {"id": "Ambil", "en": "Take"},
    "btn_progress": {"id": "Sedang dikerjakan", "en": "In progress"},
    "btn_done": {"id": "Selesai (kirim foto)", "en": "Done (send a photo)"},
    "btn_reject": {"id": "Tolak", "en": "Reject"},
    "btn_fixed": {"id": "Sudah beres ✅", "en": "It is fixed ✅"},
    "btn_not_fixed": {"id": "Belum ❌", "en": "Not yet ❌"},
    "officer_done": {"id": "Tiket {ticket}: {status}. Pelapor sudah diberi tahu.",
                     "en": "Ticket {ticket}: {status}. The reporters have been told."},
    "officer_need_photo": {"id": "Untuk menyelesaikan {ticket}, kirim foto hasil pekerjaan sebagai balasan pesan "
                                 "ini dengan teks \"selesai\".",
                           "en": "To close {ticket}, reply to this message with a photo of the result and the word \"done\"."},
    "officer_need_photo_web": {"id": "Untuk menandai {ticket} selesai, pilih foto hasil pekerjaan lalu tekan "
                                     "\"Selesai\" lagi. Catatan Anda tetap tersimpan di formulir.",
                               "en": "To mark {ticket} done, choose a photo of the result and press \"Done\" again. "
                                     "Your note is kept in the form."},
    "officer_need_reason_web": {"id": "Tuliskan alasan penolakan di kolom catatan, lalu tekan \"Tolak\" lagi.",
                                "en": "Write the reason in the note field, then press \"Reject\" again."},
    "officer_need_reason": {"id": "Tuliskan alasan penolakan, contoh: \"tolak bukan wilayah DKI\".",
                            "en": "Give the reason, e.g. \"reject outside Jakarta\"."},
    # --- handoffs (router/handoff.py): to another kelurahan/kecamatan, agency or utility, with a reason ---
    "handoff_help": {"id": "Tulis tujuan dan alasannya, contoh: \"alihkan kel. cipinang muara bukan_wilayah\".\n"
                           "Tujuan: nama atau kode kelurahan/kecamatan, kode dinas ({agencies}), atau utilitas "
                           "({utilities}).\nAlasan: {reasons}.",
                     "en": "Name where it goes and why, e.g. \"reassign kel. cipinang muara bukan_wilayah\".\n"
                           "Where: a kelurahan/kecamatan by name or code, an agency code ({agencies}), or a utility "
                           "({utilities}).\nWhy: {reasons}."},
    "handoff_unknown_target": {"id": "Tujuan \"{target}\" tidak dikenal.", "en": "\"{target}\" is not a known target."},
    "handoff_ambiguous": {"id": "\"{target}\" ada lebih dari satu: {choices}. Tulis kodenya.",
                          "en": "There is more than one \"{target}\": {choices}. Write its code."},
    "handoff_need_reason": {"id": "Ke {holder}: tuliskan juga alasannya, contoh: \"alihkan {example}\".\n"
                                  "Alasan: {reasons}.",
                            "en": "To {holder}: give the reason too, e.g. \"reassign {example}\".\nReasons: {reasons}."},
    "handoff_same": {"id": "Tiket {ticket} sudah dipegang {holder}.", "en": "Ticket {ticket} is already with {holder}."},
    "officer_handed_off": {"id": "Tiket {ticket} dialihkan ke {holder} ({reason}). Pelapor sudah diberi tahu; "
                                 "batas waktu SLA-nya tidak berubah.",
                           "en": "Ticket {ticket} is handed to {holder} ({reason}). The reporters have been told; its "
                                 "SLA deadline does not change."},
    "card_handed_off": {"id": "↪️ Tiket {ticket} dialihkan ke {holder} ({reason}) oleh {officer}. Kartu ini tidak "
                              "berlaku lagi.",
                        "en": "↪️ Ticket {ticket} was handed to {holder} ({reason}) by {officer}. This card no longer "
                              "applies."},
    "card_handed_in": {"id": "↪️ Dialihkan dari {holder}: {reason}.{words} Batas waktu SLA tetap dihitung sejak laporan "
                             "pertama kali diteruskan.\n\n",
                       "en": "↪️ Handed over from {holder}: {reason}.{words} The SLA deadline still counts from when "
                             "the report was first sent on.\n\n"},
    "officer_words_handoff": {"id": " Catatan: \"{text}\".", "en": " Note: \"{text}\"."},
    # The public trail's line (stored in the event; no person named).
    "handoff_note": {"id": "Dialihkan ke {holder}: {reason}", "en": "Handed to {holder}: {reason}"},
    "update_handoff": {"id": "Tiket {ticket}: laporan Anda dialihkan ke {holder} (alasan: {reason}). Batas waktu "
                             "penanganannya tidak berubah.",
                       "en": "Ticket {ticket}: your report has been handed to {holder} (reason: {reason}). Its "
                             "deadline does not change."},
    "officer_need_category": {"id": "Tuliskan kategori barunya, contoh: \"kategori banjir\". Kategori: {categories}.",
                              "en": "Name the new category, e.g. \"category flood\". Categories: {categories}."},
    "officer_same_category": {"id": "Tiket {ticket} sudah berkategori {category}.",
                              "en": "Ticket {ticket} is already {category}."},
    "card_recategorised": {"id": "↪️ Tiket {ticket}: kategorinya diubah petugas ({before} → {after}); tiket dikirim "
                                 "ke dinas yang sesuai. Kartu ini tidak berlaku lagi.",
                           "en": "↪️ Ticket {ticket}: an officer changed its category ({before} → {after}); it goes to "
                                 "the right agency. This card no longer applies."},
    "update_recategorised": {"id": "Laporan {ticket} dipindahkan ke kategori {category} ({agency}).",
                             "en": "Report {ticket} has been moved to the category {category} ({agency})."},
    "officer_not_allowed": {"id": "Maaf, Anda tidak terdaftar sebagai petugas untuk tiket {ticket}. "
                                  "Hubungi admin bila ini keliru.",
                            "en": "Sorry, you are not registered as an officer for ticket {ticket}. "
                                  "Contact the admin if this is a mistake."},
    "officer_taken": {"id": "Tiket {ticket} sudah diambil petugas lain.", "en": "Another officer has taken ticket {ticket}."},
    "officer_cannot": {"id": "Tiket {ticket} berstatus \"{status}\"; tindakan itu tidak bisa dilakukan sekarang.",
                       "en": "Ticket {ticket} is \"{status}\"; that action is not possible now."},
    "officer_unknown_ticket": {"id": "Tiket tidak ditemukan. Balas kartu laporan, atau tulis nomornya, contoh: "
                                     "/ambil JKT-2026-000123",
                               "en": "Ticket not found. Reply to the report's card, or give its number, e.g. "
                                     "/take JKT-2026-000123"},
    "update_note": {"id": "\nCatatan petugas: {note}", "en": "\nOfficer's note: {note}"},
    # --- HC: nearby reports before filing (router/nearby.py) and short-lived categories (router/expiry.py) ---
    "nearby_question": {"id": "Ada laporan serupa di dekat Anda ({ticket}, {distance} m): dukung laporan itu?\n"
                              "{category}, status: {status}.\nYa: Anda ikut menerima setiap kabarnya. Tidak: laporan "
                              "Anda dicatat sebagai tiket baru. Tanpa jawaban dalam {minutes} menit, laporan Anda "
                              "dicatat sebagai tiket baru.",
                        "en": "There is a similar report near you ({ticket}, {distance} m): support that report?\n"
                              "{category}, status: {status}.\nYes: you will receive its every update. No: your "
                              "report is filed as a new ticket. Without an answer within {minutes} minutes, your "
                              "report is filed as a new ticket."},
    "btn_support": {"id": "Ya, dukung", "en": "Yes, support it"},
    "btn_separate": {"id": "Tidak, laporan baru", "en": "No, a new report"},
    "nearby_gone": {"id": "Laporan {ticket} sudah tidak aktif lagi, jadi laporan Anda dicatat sebagai tiket baru.",
                    "en": "Report {ticket} is no longer active, so your report is filed as a new ticket."},
    "nearby_unanswered": {"id": "Belum ada jawaban, jadi laporan Anda kami catat sebagai tiket baru.",
                          "en": "No answer came, so your report is filed as a new ticket."},
    "nearby_too_late": {"id": "Pertanyaan tentang laporan {ticket} sudah tidak berlaku.",
                        "en": "The question about report {ticket} no longer applies."},
    "update_expired": {"id": "Tiket {ticket} ditutup otomatis: laporan {category} berlaku {hours} jam, dan selama itu "
                             "belum ada tindakan petugas; keadaannya biasanya sudah berubah. Bila masalahnya masih "
                             "ada, kirim laporan baru.",
                       "en": "Ticket {ticket} closed itself: a {category} report holds for {hours} hours, and no "
                             "officer acted on it in that time; by now things have usually changed. If the problem "
                             "is still there, send a new report."},
    "expired_note": {"id": "kedaluwarsa: tanpa tindakan petugas dalam {hours} jam",
                     "en": "expired: no officer action within {hours} hours"},
}

# What a status means to the citizen who reported the ticket (the bot speaks to them as "Anda").
STATUS_LABELS: dict[str, dict[str, str]] = {
    "received": {"id": "diterima", "en": "received"},
    "needs_info": {"id": "menunggu keterangan dari Anda", "en": "waiting for details from you"},
    "open": {"id": "tercatat, belum diteruskan ke petugas", "en": "filed, not yet with the officers"},
    "assigned": {"id": "sudah diteruskan ke dinas/unit yang berwenang", "en": "sent to the responsible agency/unit"},
    "taken": {"id": "sedang ditangani oleh petugas", "en": "an officer is handling it"},
    "in_progress": {"id": "sedang dikerjakan petugas", "en": "being worked on by an officer"},
    "resolved": {"id": "sudah ditangani, menunggu konfirmasi Anda", "en": "handled, waiting for your confirmation"},
    "closed": {"id": "selesai", "en": "closed"},
    "reopened": {"id": "dibuka kembali", "en": "reopened"},
    "rejected": {"id": "ditolak", "en": "rejected"},
    "duplicate": {"id": "digabung dengan laporan lain", "en": "merged with another report"},
}
# The same statuses as officers and the dashboard read them (about the reporter, never "Anda").
OFFICER_STATUS_LABELS: dict[str, dict[str, str]] = {
    "received": {"id": "diterima", "en": "received"},
    "needs_info": {"id": "menunggu keterangan dari pelapor", "en": "waiting for the reporter's details"},
    "open": {"id": "baru, belum diteruskan", "en": "new, not yet sent to officers"},
    "assigned": {"id": "diteruskan, belum diambil", "en": "sent, not yet taken"},
    "taken": {"id": "diambil petugas", "en": "taken by an officer"},
    "in_progress": {"id": "sedang dikerjakan", "en": "in progress"},
    "resolved": {"id": "selesai dikerjakan, menunggu konfirmasi pelapor", "en": "resolved, waiting for the reporter"},
    "closed": {"id": "ditutup", "en": "closed"},
    "reopened": {"id": "dibuka kembali oleh pelapor", "en": "reopened by the reporter"},
    "rejected": {"id": "ditolak", "en": "rejected"},
    "duplicate": {"id": "duplikat (digabung)", "en": "duplicate (merged)"},
}


def render(key: str, language: str, **values: Any) -> str:
    """The template `key` in `language` (Indonesian when there is no such translation)."""
    texts = TEMPLATES[key]
    return texts.get(language, texts["id"]).format(**values)


def status_label(status: str, language: str, officer: bool = False) -> str:
    """A ticket status in words, as the citizen (or, with `officer`, an officer) reads it."""
    labels = (OFFICER_STATUS_LABELS if officer else STATUS_LABELS).get(status)
    return labels.get(language, labels["id"]) if labels else status
